"""Model inference: audio or features -> :class:`~drumscribe.transcribe.activations.Activations`.

The model runs over overlapping windows (``core`` frames kept, ``context``
frames each side discarded), several windows per batch, under
``torch.inference_mode``. Features and audio are streamed, so memory stays
bounded for hour-long files; results do not depend on how the audio was
blocked.
"""

from __future__ import annotations

from typing import Iterable, List, Optional

import numpy as np
import torch

from .activations import Activations
from .audio import stream_audio
from .features import FeatureExtractor
from .model import Checkpoint, load_checkpoint


def resolve_device(device: Optional[str]) -> torch.device:
    """``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (GPU when present).

    Raises
    ------
    ConfigError
        (a ``ValueError``) For anything else, or a GPU asked for and none present.
    """
    import re

    from .errors import ConfigError

    if device in (None, "", "cpu"):
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cuda(:\d{1,3})?|mps", device):
        raise ConfigError(f"--device {str(device)[:40]}: not a device drumscribe runs on; use "
                          "cpu, cuda, cuda:N or auto")
    if device == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError("--device mps asked for, but no Apple GPU is available; use "
                              "--device cpu")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for, but no CUDA GPU is available; use "
                          "--device cpu")
    if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA "
                          "GPUs (cuda:0 ...); use another or --device cuda")
    return torch.device(device)


class Transcriber:
    """Runs a checkpoint's model over audio.

    Parameters
    ----------
    checkpoint : Checkpoint or path-like
    device : str, optional
        ``"cpu"`` (default), ``"cuda"``, or ``"auto"``.
    core_frames, context_frames : int
        Window layout: each window predicts ``core_frames`` frames and sees
        ``context_frames`` more on each side.
    batch_size : int
        Windows per forward pass.
    """

    def __init__(self, checkpoint, device: Optional[str] = None, core_frames: int = 1000,
                 context_frames: int = 100, batch_size: int = 8):
        if not isinstance(checkpoint, Checkpoint):
            checkpoint = load_checkpoint(checkpoint)
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.model = checkpoint.model.to(self.device).eval()
        self.extractor = FeatureExtractor(checkpoint.features)
        self.core = int(core_frames)
        self.ctx = int(context_frames)
        self.batch_size = int(batch_size)

    @property
    def classes(self) -> List[str]:
        """The model's class list."""
        return list(self.checkpoint.classes)

    @property
    def fps(self) -> float:
        """Output frame rate."""
        return self.checkpoint.features.fps

    def _run_batch(self, windows: List[torch.Tensor]) -> np.ndarray:
        x = torch.stack(windows).to(self.device)
        with torch.inference_mode():
            y = torch.sigmoid(self.model(x))
        return y[:, self.ctx:self.ctx + self.core].float().cpu().numpy()

    def activations_from_features(self, feature_chunks: Iterable[torch.Tensor]) -> np.ndarray:
        """Probabilities (n_frames, n_classes) for a stream of feature chunks."""
        width = self.checkpoint.features.n_features  # values per feature frame
        win = self.core + 2 * self.ctx
        buf = torch.zeros(self.ctx, width)  # left padding: silence
        buf_start = -self.ctx  # absolute frame index of buf[0]
        next_core = 0
        total = 0
        pending: List[torch.Tensor] = []
        outputs: List[np.ndarray] = []

        def flush():
            if pending:
                out = self._run_batch(pending)
                outputs.extend(out)
                pending.clear()

        for chunk in feature_chunks:
            total += chunk.shape[0]
            buf = torch.cat([buf, chunk], dim=0)
            while buf_start + buf.shape[0] >= next_core + self.core + self.ctx:
                a = next_core - self.ctx - buf_start
                pending.append(buf[a:a + win].clone())
                next_core += self.core
                if len(pending) >= self.batch_size:
                    flush()
                drop = next_core - self.ctx - buf_start
                buf, buf_start = buf[drop:], buf_start + drop
        while next_core < total:
            a = next_core - self.ctx - buf_start
            w = buf[a:a + win]
            if w.shape[0] < win:
                w = torch.cat([w, torch.zeros(win - w.shape[0], width)], dim=0)
            pending.append(w.clone())
            next_core += self.core
        flush()
        if not outputs:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.concatenate(outputs, axis=0)[:total].astype(np.float32)

    def activations_from_samples(self, samples: np.ndarray, source: str = "") -> Activations:
        """Activations of a mono float32 array at the model's sample rate."""
        values = self.activations_from_features(self.extractor.stream([samples]))
        return Activations(values, self.fps, self.classes, self.checkpoint.fingerprint, source)

    def activations_from_file(self, path) -> Activations:
        """Activations of an audio file, streamed in blocks (bounded memory).

        Raises
        ------
        AudioError
            If the file cannot be read.
        """
        blocks = stream_audio(path, self.checkpoint.features.sample_rate)
        values = self.activations_from_features(self.extractor.stream(blocks))
        return Activations(values, self.fps, self.classes, self.checkpoint.fingerprint, str(path))
