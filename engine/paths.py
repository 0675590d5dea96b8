"""Per-user folders for caches, thumbnails, features and models (never the dataset folder), and
writing a file whole or not at all."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def atomic_file(path: Path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path`` (its folders made); when the block succeeds, one
    rename puts it in place (a reader never sees half a file); otherwise it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fovea-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: give the file what open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
