"""Where the lab finds sources and puts build products and caches."""

import os
from pathlib import Path


def repo_root() -> Path:
    """The checkout holding hv/ and ramooflax/ (this package's parent)."""
    return Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    """Build products: build/hv (hypervisor ELFs), build/lab (logs, USB images)."""
    return repo_root() / "build"


def hv_build_dir() -> Path:
    return build_dir() / "hv"


def lab_dir() -> Path:
    path = build_dir() / "lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """$RAMOOFLAX_CACHE, or ~/.cache/ramooflax: Debian packages and guest images."""
    env = os.environ.get("RAMOOFLAX_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "ramooflax"
    path.mkdir(parents=True, exist_ok=True)
    return path


def guests_dir() -> Path:
    path = cache_dir() / "guests"
    path.mkdir(parents=True, exist_ok=True)
    return path
