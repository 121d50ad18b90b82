"""alignbook: when does explicit cross-modal alignment help or hurt each unimodal encoder?

Importing the package sets no seed, touches no file and starts no thread; subpackages and modules are imported
on first use (`alignbook.sweep`, ...), so `import alignbook` stays cheap. The layout is described in
ARCHITECTURE.md.

The one thing an import adds to the interpreter is a finder that answers for the module paths of the flat
layout removed in 0.2.0 (`alignbook.train`, ...): importing one raises an ImportError that names the module
its code lives in now (`MOVED`; see CHANGELOG.md).
"""

import sys
from importlib import import_module
from importlib.abc import MetaPathFinder
from pkgutil import iter_modules

__version__ = "0.2.0"
__all__ = ["__version__"]

# module paths of the flat layout (0.1) -> the modules that hold their code since 0.2.0
MOVED = {
    "alignment": "alignbook.models.alignment",
    "analysis_study": "alignbook.chapters.choosing_lam",
    "bench": "alignbook.training.bench",
    "book": "alignbook.chapters.book",
    "claims": "alignbook.analysis.claims",
    "realdata_study": "alignbook.chapters.real_data",
    "results": "alignbook.training.results",
    "runtime": "alignbook.training.threads",
    "seeding": "alignbook.training.seeding",
    "sequence_models": "alignbook.models.sequence",
    "studies": "alignbook.chapters.studies",
    "synthetic": "alignbook.data.synthetic",
    "train": "alignbook.training.single",
    "vectorized": "alignbook.training.vectorized",
}


def _moved_error(name: str) -> ImportError:
    old = f"alignbook.{name}"
    return ImportError(f"{old} was removed in alignbook 0.2.0: its code is in {MOVED[name]}; import it from "
                       "there (see CHANGELOG.md)", name=old)


class _MovedModules(MetaPathFinder):
    """Turns `import alignbook.<old>` into an ImportError naming the new module (asked last, after the
    finders that know the real modules)."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package == "alignbook" and name in MOVED:
            raise _moved_error(name)
        return None


if not any(type(finder).__name__ == _MovedModules.__name__ for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def _submodules() -> list[str]:
    """Names of the package's modules and subpackages, read from the package folder."""
    return sorted(info.name for info in iter_modules(__path__) if not info.name.startswith("_"))


def __getattr__(name: str):
    if name in MOVED:  # `from alignbook import train`, `alignbook.train`
        raise _moved_error(name)
    if name in _submodules():
        return import_module(f"alignbook.{name}")
    raise AttributeError(f"module 'alignbook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_submodules()})
