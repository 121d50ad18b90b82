"""Old import paths of modules that moved into subpackages, kept working with a DeprecationWarning.

Each old module (`alignbook/train.py`, ...) is a two-line alias: importing it warns once, names the new
path, and leaves the new module itself in its place (`alignbook.train` is `alignbook.training.single`), so a
script written against the flat layout runs unchanged.
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module

# old module name (under alignbook) -> the module that replaced it
MOVED = {
    "alignment": "alignbook.models.alignment",
    "analysis_study": "alignbook.chapters.analysis",
    "bench": "alignbook.training.bench",
    "book": "alignbook.chapters.book",
    "claims": "alignbook.analysis.claims",
    "realdata_study": "alignbook.chapters.realdata",
    "results": "alignbook.training.results",
    "runtime": "alignbook.training.threads",
    "seeding": "alignbook.training.seeding",
    "sequence_models": "alignbook.models.sequence",
    "studies": "alignbook.chapters.studies",
    "synthetic": "alignbook.data.synthetic",
    "train": "alignbook.training.single",
    "vectorized": "alignbook.training.vectorized",
}


def alias(old: str) -> None:
    """Replace the module `old` (e.g. "alignbook.train") by its new module, warning that the path moved."""
    new = MOVED[old.rpartition(".")[2]]
    # stacklevel 3: the warning points at the import statement (importlib's own frames are skipped)
    warnings.warn(f"{old} is deprecated: the module moved to {new}; import it from there",
                  DeprecationWarning, stacklevel=3)
    sys.modules[old] = import_module(new)
