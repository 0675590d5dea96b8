"""Per-user folders for caches, thumbnails, features and models (never the dataset folder)."""
import os
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


def data_dir(*parts: str) -> Path:
    """Data a user keeps (trained models, run history, imported weights). $FOVEA_HOME/data overrides."""
    root = _base("XDG_DATA_HOME", ".local/share")
    if os.environ.get("FOVEA_HOME"):
        root = root / "data"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "resources"


def sample_dataset_dir() -> Path:
    return resources_dir() / "sample"
