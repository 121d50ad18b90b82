"""alignbook: when does explicit cross-modal alignment help or hurt each unimodal encoder?

Importing the package has no side effects: no seeds are set, no files are touched, no threads are started.
Subpackages and modules are imported on first use (`alignbook.sweep`, ...), so `import alignbook` stays
cheap; the layout is described in ARCHITECTURE.md.
"""

from importlib import import_module
from pkgutil import iter_modules

__version__ = "0.1.0"
__all__ = ["__version__"]


def _submodules() -> list[str]:
    """Names of the package's modules and subpackages, read from the package folder."""
    return sorted(info.name for info in iter_modules(__path__) if not info.name.startswith("_"))


def __getattr__(name: str):
    if name in _submodules():
        return import_module(f"alignbook.{name}")
    raise AttributeError(f"module 'alignbook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_submodules()})
