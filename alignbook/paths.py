"""The only place where file locations are built."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Where expensive results are cached: $ALIGNBOOK_CACHE, else `.cache/alignbook` in the repository."""
    return Path(os.environ.get("ALIGNBOOK_CACHE", REPO_ROOT / ".cache" / "alignbook"))


def results_dir() -> Path:
    """Where sweeps write their result tables: $ALIGNBOOK_RESULTS, else `results/` in the repository."""
    return Path(os.environ.get("ALIGNBOOK_RESULTS", REPO_ROOT / "results"))
