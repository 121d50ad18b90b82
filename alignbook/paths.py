"""The only place where file locations are built."""

from __future__ import annotations

import os
from pathlib import Path

from alignbook.checks import fail

REPO_ROOT = Path(__file__).resolve().parent.parent


def _folder(variable: str, default: Path) -> Path:
    """The folder named by the environment variable `variable`, else `default`; set but empty is an error
    (an empty path would silently mean the current folder)."""
    value = os.environ.get(variable)
    if value is None:
        return default
    if not value.strip():
        fail(variable, "is set but empty", f"unset it to use {default}, or set it to a folder")
    return Path(value)


def cache_dir() -> Path:
    """Where expensive results are cached: $ALIGNBOOK_CACHE, else `.cache/alignbook` in the repository."""
    return _folder("ALIGNBOOK_CACHE", REPO_ROOT / ".cache" / "alignbook")


def results_dir() -> Path:
    """Where sweeps write their result tables: $ALIGNBOOK_RESULTS, else `results/` in the repository."""
    return _folder("ALIGNBOOK_RESULTS", REPO_ROOT / "results")
