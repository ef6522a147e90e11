"""File input and output shared by every reader and writer.

Output: :func:`atomic_write` (one file) and :class:`OutputUnit` (several files
that appear together or not at all). Input: :func:`open_regular` and
:func:`read_bounded`, which refuse FIFOs, devices and folders and bound the size
before a byte is read, and :func:`read_yaml` (plain YAML, no duplicated keys).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from .errors import DrumscribeError, OutputError

NAME_MAX = 255
"""Longest file-name component (bytes) assumed for every file system."""

MAX_YAML_BYTES = 512 * 1024
"""Config and calibration files larger than this are refused before parsing
(a 1 MB YAML file takes about 2 s to parse)."""


def file_kind(mode: int) -> str:
    """What a ``st_mode`` describes, for messages ("a FIFO (named pipe)")."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _oserror_words(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return (f"a name in the path is longer than the file system allows ({NAME_MAX} bytes); "
                "rename it")
    return exc.strerror or str(exc)


def open_regular(path, error=DrumscribeError, what: str = "file", missing_fix: str = "check the path",
                 max_bytes: Optional[int] = None):
    """Open ``path`` for binary reading, refusing anything but a bounded regular file.

    The file is opened without blocking (a FIFO with no writer would block
    ``open`` forever) and checked with ``fstat`` on the open descriptor, so
    what is checked is what is read.

    Parameters
    ----------
    path : path-like
    error : type
        The :class:`~drumscribe.transcribe.errors.DrumscribeError` subclass to raise.
    what : str
        What the file is, for messages ("config file").
    missing_fix : str
        The fix suggested when the file does not exist.
    max_bytes : int, optional
        Larger files are refused before reading.

    Returns
    -------
    file object
        Opened ``rb``; the caller closes it.

    Raises
    ------
    error
        If the file is missing, a folder, FIFO, device or socket, or too large.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; {missing_fix}") from None
    except IsADirectoryError:
        raise error(f"{path}: {what} is a folder, not a regular file; give the path of a file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({_oserror_words(exc)})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: {what} is {file_kind(st.st_mode)}, not a regular file; give the "
                        "path of a file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise error(f"{path}: {what} is implausibly large ({st.st_size} bytes, the limit is "
                        f"{max_bytes}); is it the right file?")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path, max_bytes: int, error=DrumscribeError, what: str = "file",
                 missing_fix: str = "check the path") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see :func:`open_regular`).

    A file that grows while it is read is refused too.
    """
    with open_regular(path, error, what, missing_fix, max_bytes) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read {what} ({_oserror_words(exc)})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: {what} is implausibly large (over {max_bytes} bytes); is it the "
                    "right file?")
    return data


def check_regular(path, error=DrumscribeError, what: str = "file",
                  missing_fix: str = "check the path", max_bytes: Optional[int] = None) -> os.stat_result:
    """``stat`` a path and refuse what :func:`open_regular` refuses, without opening it."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; {missing_fix}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({_oserror_words(exc)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: {what} is {file_kind(st.st_mode)}, not a regular file; give the "
                    "path of a file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{path}: {what} is implausibly large ({st.st_size} bytes, the limit is "
                    f"{max_bytes}); is it the right file?")
    return st


def short_name(name: str, room: int = 0) -> str:
    """``name``, shortened so that ``room`` more bytes still fit in a file name.

    Names that fit are returned unchanged. Longer ones keep as many leading
    characters as fit, then ``~`` and 8 hex digits of the full name's sha1, so
    two long names stay distinct and the same name always maps to the same
    short one. Works for names in any encoding (undecodable bytes arrive as
    surrogate escapes and are kept).

    >>> short_name("song")
    'song'
    >>> len(os.fsencode(short_name("x" * 300)))
    255
    """
    raw = os.fsencode(name)
    limit = NAME_MAX - room
    if len(raw) <= limit:
        return name
    tag = "~" + hashlib.sha1(raw).hexdigest()[:8]
    keep = name
    while len(os.fsencode(keep)) > limit - len(tag):
        keep = keep[:-1]
    return keep + tag


def temp_prefix(name: str) -> str:
    """The prefix of :func:`atomic_write`'s temporaries for an output named ``name``."""
    return f".{short_name(name, room=16)}."


def check_writable(path, overwrite: bool = False) -> Path:
    """Check that ``path`` may be written.

    Raises
    ------
    OutputError
        If the file exists and ``overwrite`` is false, or its folder is missing
        or not writable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: output exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: output folder {parent} is not writable; choose another with -o")
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed,
    so no partial output is ever left behind.

    Raises
    ------
    OutputError
        If the folder is not writable or the disk is full.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".part", dir=parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write to {parent} ({exc.strerror}); "
                          "choose a writable output folder") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs get normal permissions
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                raise OutputError(f"{path}: disk full while writing; free space and retry") from None
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); "
                              "check the output folder") from None
        raise


def _unique_key_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """``yaml.SafeLoader`` that refuses a key given twice in one mapping
        (plain PyYAML keeps the last one silently)."""

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        key = key_node.value
                        if key in seen and key != "<<":
                            raise yaml.constructor.ConstructorError(
                                None, None, f"key {key[:60]!r} appears twice (lines "
                                f"{seen[key] + 1} and {key_node.start_mark.line + 1})",
                                key_node.start_mark)
                        seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_yaml(path, error, what: str, missing_fix: str, max_bytes: int = MAX_YAML_BYTES):
    """Read a YAML file with a safe loader; every failure is a one-line ``error``.

    The file must be a regular file of at most ``max_bytes`` (checked before
    it is read); ``!!python`` tags are refused (``yaml.SafeLoader``), and so
    is a key given twice in one mapping.

    Parameters
    ----------
    path : path-like
    error : type
        The :class:`~drumscribe.transcribe.errors.DrumscribeError` subclass to raise.
    what : str
        What the file is, for messages ("config file").
    missing_fix : str
        The fix suggested when the file does not exist.
    max_bytes : int
        Larger files are refused.

    Returns
    -------
    object
        The plain data.
    """
    import yaml

    path = Path(path)
    raw = read_bounded(path, max_bytes, error, what, missing_fix)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read {what} (not UTF-8 text: {exc.reason} at byte "
                    f"{exc.start})") from None
    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        if "appears twice" in str(exc):
            msg = str(exc).splitlines()
            first = next((ln for ln in msg if "appears twice" in ln), str(exc)).strip()
            mark = getattr(exc, "problem_mark", None)
            at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
            raise error(f"{at}: invalid YAML ({first}); give each key once") from None
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        if "python/" in str(exc):  # a !!python/... tag, refused by safe_load
            raise error(f"{at}: invalid YAML (a Python tag in the {what}: {problem}); only "
                        "plain YAML is accepted, no !!python tags") from None
        cm = getattr(exc, "context_mark", None)
        where = (f" {exc.context}" + (f" (opened at line {cm.line + 1})" if cm is not None else "")
                 if getattr(exc, "context", None) else "")
        raise error(f"{at}: invalid YAML ({problem}{where}); fix the {what}'s syntax "
                    "there") from None
    except RecursionError:
        raise error(f"{path}: YAML nesting too deep") from None


# ------------------------------------------------------------------ output units

UNIT_SUFFIX = ".drumscribe.part"
JOURNAL = "COMMIT.json"


def unit_dir(folder, name: str) -> Path:
    """The staging folder of the output unit ``name`` inside ``folder``."""
    return Path(folder) / f".{short_name(name, room=len(UNIT_SUFFIX) + 1)}{UNIT_SUFFIX}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _place(src: Path, dst: Path, trash: Path) -> None:
    """Move ``src`` over ``dst`` (a file or a folder); an existing folder is moved
    into ``trash`` first (a folder cannot be renamed over a non-empty one)."""
    if not src.exists() and not src.is_symlink():
        return  # moved by an earlier, interrupted commit
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and not dst.is_symlink():
        trash.mkdir(parents=True, exist_ok=True)
        os.replace(dst, trash / f"old{len(os.listdir(trash))}")
    elif src.is_dir() and (dst.exists() or dst.is_symlink()):
        dst.unlink()
    os.replace(src, dst)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stale_temporaries(final: Path, names: Optional[List[str]] = None) -> List[Path]:
    """Leftover :func:`atomic_write` temporaries of the output ``final``.

    ``names`` is the listing of its folder, when the caller has it already.
    """
    final = Path(final)
    parent = final.parent if str(final.parent) else Path(".")
    prefix = temp_prefix(final.name)
    if names is None:
        try:
            names = os.listdir(parent)
        except OSError:
            return []
    return [parent / n for n in names if n.startswith(prefix) and n.endswith(".part")
            and n[len(prefix):-len(".part")].isalnum() and len(n) - len(prefix) - 5 <= 12]


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends (then they arrive).

    Blocking the signals in this thread is not enough: the kernel hands a
    process-directed signal to any thread that does not block it (torch's and
    tqdm's threads), and Python then raises in the main thread anyway. So in
    the main thread the Python handlers are swapped for one that only records
    the signal, and what was recorded is raised again after the block.
    """
    import threading

    sigs = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    caught: List[int] = []
    saved = {}
    if threading.current_thread() is threading.main_thread():
        def hold(signum, frame):
            if signum not in caught:
                caught.append(signum)

        for s in sigs:
            h = signal.getsignal(s)
            if h in (signal.SIG_IGN, None):
                continue
            saved[s] = h
            signal.signal(s, hold)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        for s, h in saved.items():
            signal.signal(s, h)
        for s in caught:
            signal.raise_signal(s)


class OutputUnit:
    """Several outputs that appear together or not at all.

    Every output is first written into a staging folder
    (``.<name>.drumscribe.part``) inside the folder it belongs in, so the final
    rename never crosses file systems. :meth:`commit` writes a journal
    (``COMMIT.json``, atomically) listing every move, then renames each staged
    output into place. A kill before the journal exists leaves only staging
    folders, which :meth:`recover` removes; a kill after it leaves a journal,
    which :meth:`recover` finishes. So after a rerun every output of the unit
    is present and complete, or none is.

    Parameters
    ----------
    name : str
        The unit's name (a song's output key); names its staging folders.
    home : path-like
        Folder of the journal (the first output's folder).
    folders : iterable of path-like
        Every folder the unit may write into (for :meth:`recover`).
    """

    def __init__(self, name: str, home, folders: Iterable = ()):
        self.name = name
        self.home = Path(home)
        self.folders = [self.home] + [Path(f) for f in folders if Path(f) != self.home]
        self.moves: List[Tuple[Path, Path]] = []
        self._dirs: Dict[Path, Path] = {}

    @property
    def journal(self) -> Path:
        return unit_dir(self.home, self.name) / JOURNAL

    def staging(self, folder) -> Path:
        """The staging folder inside ``folder`` (created)."""
        folder = Path(folder)
        d = self._dirs.get(folder)
        if d is None:
            d = unit_dir(folder, self.name)
            _remove(d)
            try:
                d.mkdir(parents=True)
            except OSError as exc:
                raise OutputError(f"{folder}: cannot write ({_oserror_words(exc)}); choose a "
                                  "writable output folder") from None
            self._dirs[folder] = d
        return d

    def stage(self, final) -> Path:
        """Where to write the output ``final`` (a file or a folder) before commit."""
        final = Path(final)
        d = self.staging(final.parent)
        staged = d / f"{len(self.moves)}" / final.name
        staged.parent.mkdir()
        self.moves.append((staged, final))
        return staged

    def public(self, message: str) -> str:
        """``message`` with staged paths replaced by the final ones (errors name
        the output the user asked for, not its temporary)."""
        pairs = [(str(s), str(f)) for s, f in self.moves]
        for folder, d in self._dirs.items():
            pairs += [(str(d / "export"), str(folder)), (str(d), str(folder))]
        for staged, final in sorted(pairs, key=lambda p: -len(p[0])):
            message = message.replace(staged, final)
        return message

    def commit(self) -> None:
        """Move every staged output into place (journalled, see the class)."""
        with _signals_deferred():  # a commit takes milliseconds: let it finish
            self._commit()

    def _commit(self) -> None:
        entries = [[str(s), str(f)] for s, f in self.moves if s.exists() or s.is_symlink()]
        home = self.staging(self.home)
        tmp = home / (JOURNAL + ".tmp")
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
            json.dump({"moves": entries, "folders": [str(f) for f in self._dirs]}, fh,
                      ensure_ascii=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.journal)
        _fsync_dir(home)
        self._apply()

    def _apply(self) -> None:
        data = json.loads(self.journal.read_text(encoding="utf-8"))
        home = self.journal.parent
        for src, dst in data["moves"]:
            _place(Path(src), Path(dst), home / "trash")
        for f in {Path(f) for f in data.get("folders", [])} | set(self.folders):
            _fsync_dir(f)
        for f in {Path(f) for f in data.get("folders", [])} | set(self.folders):
            if f != self.home:
                _remove(unit_dir(f, self.name))
        _remove(home)

    def discard(self) -> None:
        """Remove the staging folders of an uncommitted unit."""
        if self.journal.exists():
            return  # committed: recover() finishes it
        for d in list(self._dirs.values()):
            _remove(d)
        self._dirs.clear()
        self.moves.clear()

    def recover(self) -> Optional[str]:
        """Finish or remove what an interrupted run of this unit left.

        Returns
        -------
        str or None
            ``"finished"`` (a committed unit was moved into place), ``"removed"``
            (staging folders of an uncommitted one were deleted) or None.
        """
        if self.journal.exists():
            try:
                self._apply()
            except (OSError, ValueError, KeyError) as exc:
                raise OutputError(f"{self.journal}: cannot finish the interrupted commit "
                                  f"({exc}); remove {self.journal.parent} and rerun") from None
            return "finished"
        found = None
        for f in self.folders:
            d = unit_dir(f, self.name)
            if d.exists():
                _remove(d)
                found = "removed"
        return found
