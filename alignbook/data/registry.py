"""The dataset registry: which dataset kinds a sweep spec may name, and how each is built.

A kind maps to a builder, a callable or a "module:function" path imported on first use (so importing the
registry stays cheap). `build_dataset(kind, **params)` checks the parameters against the builder's signature
and that it returns a `PairedDataset`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from alignbook.checks import fail
from alignbook.data.container import PairedDataset

CUSTOM_KIND = "custom"  # dataset kind recorded for datasets handed to run_sweep directly
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # kinds and sweep names (file names); \Z: not $


@dataclass(frozen=True)
class _Builder:
    """A dataset builder: a callable, or a "module:function" path imported on first use (cheap import)."""

    target: Callable[..., PairedDataset] | str
    # Output decided by the parameters and the package source alone (no files read): the dataset's
    # fingerprint may then be remembered, and a fully cached sweep need not build the dataset again.
    deterministic: bool = False

    def resolve(self, kind: str) -> Callable[..., PairedDataset]:
        if callable(self.target):
            return self.target
        module_name, _, function_name = self.target.partition(":")
        try:
            return getattr(import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            fail("dataset.kind", f"{kind!r} needs {self.target}, which cannot be imported ({exc})")


_BUILDERS: dict[str, _Builder] = {
    "synthetic": _Builder("alignbook.data.synthetic:make_dataset", deterministic=True),
    "mfeat": _Builder("alignbook.data.loaders:load_mfeat"),
    "basicmotions": _Builder("alignbook.data.loaders:load_basicmotions"),
    "multibench": _Builder("alignbook.data.loaders:load_multibench"),
    "avmnist": _Builder("alignbook.data.loaders:load_avmnist"),
}


_PACKAGE_KINDS = frozenset(_BUILDERS)


def register_dataset(kind: str, builder: Callable[..., PairedDataset], *,
                     deterministic: bool = False) -> None:
    """Make `kind` usable in sweep specs: `builder(**params)` must return a `PairedDataset`.

    `deterministic=True` promises that the data depend on the parameters and alignbook's source only (no
    files, no other package's version): re-runs then skip building datasets whose runs are all cached.
    Registration lives in the current process; worker processes receive built datasets, not builders.
    """
    if not isinstance(kind, str) or not NAME_PATTERN.match(kind) or kind == CUSTOM_KIND:
        fail("kind", f"must be a short name of letters, digits, '_', '.', '-' (not {CUSTOM_KIND!r}), "
                     f"got {kind!r}")
    if not callable(builder):
        fail("builder", f"must be callable, got {type(builder).__name__}")
    _BUILDERS[kind] = _Builder(builder, deterministic=bool(deterministic))


def unregister_dataset(kind: str) -> None:
    """Forget a kind `register_dataset` added (the package's own kinds cannot be removed)."""
    if kind in _PACKAGE_KINDS:
        fail("kind", f"{kind!r} is one of the package's own dataset kinds and cannot be removed")
    _BUILDERS.pop(kind, None)


def dataset_kinds() -> list[str]:
    """The dataset kinds a spec may name."""
    return sorted(_BUILDERS)


def builder_for(kind: str) -> Callable[..., PairedDataset]:
    """The builder callable of a registered `kind` (imported on first use); unknown kinds fail."""
    if kind not in _BUILDERS:
        fail("dataset.kind", f"unknown dataset kind {kind!r}", f"known kinds: {', '.join(dataset_kinds())}")
    return _BUILDERS[kind].resolve(kind)


def accepted_params(builder: Callable) -> tuple[set[str], bool]:
    """Names a builder accepts and whether it takes arbitrary keyword arguments."""
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        return set(), True
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in parameters)


def build_dataset(kind: str, **params) -> PairedDataset:
    """Build a dataset of a registered kind, e.g. `build_dataset("synthetic", redundancy=4, depth=1)`."""
    builder = builder_for(kind)
    names, any_keyword = accepted_params(builder)
    unknown = sorted(set(params) - names) if not any_keyword else []
    if unknown:
        fail(f"dataset.{unknown[0]}", f"is not a parameter of dataset kind {kind!r}",
             f"accepted: {', '.join(sorted(names))}")
    call_params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    dataset = builder(**call_params)
    if not isinstance(dataset, PairedDataset):
        fail("dataset.kind", f"builder of {kind!r} returned {type(dataset).__name__}, not a PairedDataset")
    return dataset


def builder_module(kind: str) -> str:
    """The module that defines the builder of `kind` (its code keys the remembered descriptions of the kind's
    datasets)."""
    target = _BUILDERS[kind].target if kind in _BUILDERS else builder_for(kind)
    return target.partition(":")[0] if isinstance(target, str) else target.__module__


def is_deterministic(kind: str) -> bool:
    """Whether the builder of `kind` promised data decided by its parameters alone (`register_dataset`)."""
    builder_for(kind)  # an unknown kind fails here, naming the known ones
    return _BUILDERS[kind].deterministic
