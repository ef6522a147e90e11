"""drumscribe's transcription library.

audio -> features -> CRNN activations -> pluggy postprocessing -> onsets -> MIDI.
"""

from drumscribe import __version__  # noqa: F401  (one version, in drumscribe/__init__.py)
