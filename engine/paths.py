"""Per-user folders for caches, thumbnails, features and models (never the dataset folder), and the
rules for the files Fovea writes and reads there.

- Writing: ``atomic_file`` writes a file whole or not at all. It follows a symlink (its target is
  replaced, the link stays), refuses to replace a device, FIFO, socket or folder, and names its
  temporary file with the process id, so the next write into that folder removes what a killed
  process left behind.
- Before long work: ``check_output_path`` refuses an output path that cannot take a file, and
  ``check_free_space`` says which folder lacks how much space.
- Reading: ``open_regular_file`` opens only regular files (a FIFO given as an input would block
  forever, a device would never end).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

TEMP_PREFIX = ".fovea-"  # + "<pid>-<random><suffix>"
FREE_SPACE_MARGIN = 16 << 20  # kept free beyond what a write needs


def _base(env_xdg: str, default: str) -> Path:
    home = os.environ.get("FOVEA_HOME")
    if home:
        return Path(home)
    return Path(os.environ.get(env_xdg) or Path.home() / default) / "fovea"


def cache_dir(*parts: str) -> Path:
    """Throw-away data (thumbnails, precomputed features). $FOVEA_HOME/cache overrides."""
    root = _base("XDG_CACHE_HOME", ".cache")
    if os.environ.get("FOVEA_HOME"):
        root = root / "cache"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(*parts: str, create: bool = True) -> Path:
    """Data a user keeps (trained models, run history, imported weights). $FOVEA_HOME/data overrides.
    ``create=False``: only the path (nothing is made, so nothing can fail on a read-only disk)."""
    root = _base("XDG_DATA_HOME", ".local/share")
    if os.environ.get("FOVEA_HOME"):
        root = root / "data"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources"


def sample_dataset_dir() -> Path:
    return resources_dir() / "sample"


# ---------------------------------------------------------------- what a path is


def file_kind(mode: int) -> str:
    """'a folder', 'a FIFO'… for an st_mode that is not a regular file."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _refusal(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (after following symlinks), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        if exc.errno == errno.ENOTDIR:
            return "has a file where a folder should be"
        return f"cannot be used: {exc.strerror or exc}"
    if stat.S_ISREG(st.st_mode):
        return None
    return f"is {file_kind(st.st_mode)}, not a regular file"


def _existing_folder(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (where new folders would be made)."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output_path(path, flag: str = "-o") -> Path:
    """Refuse, before any work, an output path that cannot take a file: empty, a folder, a device,
    a FIFO or a socket, or inside a folder that cannot be written. ValueError with one line."""
    text = "" if path is None else os.fspath(path)
    if not text.strip():
        raise ValueError(f"{flag} needs a file name (got an empty one)")
    p = Path(text)
    if os.path.isdir(p):
        raise ValueError(f"{flag} {p} is a folder: give a file name, e.g. {p / 'out'}")
    why = _refusal(p)
    if why:
        raise ValueError(f"{flag} {p} {why}: give another file name")
    folder = _existing_folder(Path(os.path.realpath(p)))
    if not folder.is_dir():
        raise ValueError(f"{flag} {p}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {p}: cannot write into {folder} (permission denied)")
    return p


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class DiskFull(OSError):
    """Not enough free space for a write; the message names the folder and the space needed."""


def check_free_space(folder, needed: int, what: str) -> None:
    """Raise DiskFull when ``folder`` (or the folder it would be made in) lacks ``needed`` bytes."""
    where = Path(folder)
    probe = where if where.is_dir() else _existing_folder(where)
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell: the write itself will say
    if free < needed + FREE_SPACE_MARGIN:
        raise DiskFull(
            errno.ENOSPC,
            f"not enough free space in {where} for {what}: it needs about {format_bytes(needed + FREE_SPACE_MARGIN)}, "
            f"{format_bytes(free)} free",
        )


def write_error(path, exc: BaseException) -> OSError:
    """One line for a failed write of ``path`` (torch's own errors run to a C++ stack)."""
    text = str(exc)
    if isinstance(exc, DiskFull):
        return exc
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or "enforce fail" in text
    folder = Path(os.path.abspath(path)).parent
    if full:
        free = ""
        try:
            free = f", {format_bytes(shutil.disk_usage(folder).free)} free"
        except OSError:
            pass
        return OSError(
            errno.ENOSPC, f"could not write {path}: the disk is full or the file too large (in {folder}{free})"
        )
    reason = getattr(exc, "strerror", None) or (text.strip().splitlines()[0] if text.strip() else type(exc).__name__)
    return OSError(getattr(exc, "errno", None) or errno.EIO, f"could not write {path}: {reason}")


# ---------------------------------------------------------------- writing


_swept: set[str] = set()
_swept_lock = threading.Lock()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # no cheap, harmless test here: such files are removed by age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temp_files(folder, max_age_s: float = 24 * 3600) -> int:
    """Remove temporary files that a killed Fovea process left in ``folder`` (its pid is in the
    name; where no pid can be tested, files older than ``max_age_s``). Returns how many."""
    import time

    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not name.startswith(TEMP_PREFIX):
            continue
        pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = time.time() - entry.stat(follow_symlinks=False).st_mtime > max_age_s
            if old or not _pid_alive(int(pid_text)):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    remove_stale_temp_files(folder)


@contextmanager
def atomic_file(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path`` (its folders made); when the block succeeds, one
    rename puts it in place (a reader never sees half a file); otherwise it is removed.

    A symlink at ``path`` is followed: its target is replaced and the link stays. A device, FIFO,
    socket or folder there is never replaced (OSError with one line)."""
    target = Path(os.path.realpath(path))
    why = _refusal(target)
    if why:
        raise OSError(errno.EINVAL, f"{path} {why}: not replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        if stat.S_IMODE(os.stat(tmp).st_mode) == 0o600:  # mkstemp's: give the file what open() would
            os.chmod(tmp, 0o666 & ~_umask())
        why = _refusal(target)  # something else may have appeared there meanwhile
        if why:
            raise OSError(errno.EINVAL, f"{path} {why}: not replaced")
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path, data: bytes) -> None:
    """``data`` into ``path`` through atomic_file."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


# ---------------------------------------------------------------- reading


class NotRegularFile(OSError):
    """An input that is a FIFO, device, socket or folder."""


def open_regular_file(path):
    """Open ``path`` for reading in binary mode, only if it is a regular file. Never blocks on a
    FIFO (opened non-blocking, then checked on the open descriptor: no window for a swap)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, f"{file_kind(st.st_mode)}, not a regular file")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
