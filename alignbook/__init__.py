"""alignbook: when does explicit cross-modal alignment help or hurt each unimodal encoder?

Importing the package has no side effects: no seeds are set, no files are touched, no threads are started.
Submodules are imported on first use so that `import alignbook` stays cheap.
"""

from importlib import import_module

__version__ = "0.1.0"

_SUBMODULES = (
    "alignment", "analysis", "analysis_study", "bench", "book", "checks", "claims", "config", "data", "info",
    "metrics", "models", "paths", "plotting", "realdata_study", "results", "runtime", "seeding",
    "sequence_models", "studies", "sweep", "synthetic", "train", "vectorized",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f"alignbook.{name}")
    raise AttributeError(f"module 'alignbook' has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
