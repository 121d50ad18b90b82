"""Sweep specifications: what a sweep trains, parsed and validated once, before any work.

A `SweepSpec` is every dataset of a grid x every `lam` x every seed, with one training configuration; it is
usually read from a YAML file (see `configs/`) with `SweepSpec.from_yaml` or `load_spec`.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alignbook.checks import check_lam, check_seed, fail, is_int, is_number
from alignbook.config import TrainConfig
from alignbook.data.registry import NAME_PATTERN, dataset_kinds

_SPEC_KEYS = ("name", "dataset", "dataset_grid", "lams", "seeds", "train", "data_seed")
# A sweep's name becomes the name of its results files (`<name>.csv`, `<name>.yaml` and their temporary
# siblings): 100 characters leave room for those within the 255 bytes most file systems allow.
MAX_NAME_LENGTH = 100
PER_RUN_DATA_SEED = "seed"  # `data_seed: seed`: each run's seed also draws its data


def _plain(value, param: str):
    """A JSON/YAML-safe copy of a dataset parameter value (scalars and lists of them)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if is_int(value):
        return int(value)
    if is_number(value):
        if not math.isfinite(float(value)):
            fail(param, f"must be finite, got {value!r}")
        return float(value) + 0.0  # -0.0 is 0.0: one value, one key
    if isinstance(value, (list, tuple)):
        return [_plain(v, param) for v in value]
    fail(param, f"must be a number, string, boolean or list of them, got {type(value).__name__} {value!r}")


def _check_no_duplicates(param: str, values: list) -> None:
    seen: set[str] = set()
    for value in values:
        text = json.dumps(value, sort_keys=True)
        if text in seen:
            fail(param, f"contains {value!r} more than once")
        seen.add(text)


def _check_list(param: str, values) -> list:
    if not isinstance(values, (list, tuple)):
        fail(param, f"expected a list, got {type(values).__name__} {values!r}")
    if len(values) == 0:
        fail(param, "must not be empty")
    return list(values)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a point of the dataset grid, a `lam` and a seed."""

    dataset_params: dict
    lam: float
    seed: int


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: every dataset of the grid x every `lam` x every seed, with one training config.

    `dataset` holds the dataset kind and its fixed parameters (e.g. `{"kind": "synthetic", "n_samples":
    65536}`), `dataset_grid` the varied ones (cartesian product, e.g. `{"redundancy": [0, 4], "depth": [1,
    3]}`), `train` overrides of `TrainConfig`. `data_seed` is the seed that draws the data (the samples,
    the split and the labelled subset; passed as `seed` to builders that take one): an integer, one draw
    for every run, or `"seed"`, each run's own seed (`data_seed_for`). `dataset` may be empty when
    `run_sweep` gets the data directly.
    """

    name: str
    lams: tuple[float, ...]
    seeds: tuple[int, ...]
    dataset: dict = field(default_factory=dict)
    dataset_grid: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    data_seed: int | str = 0

    @classmethod
    def from_dict(cls, values: Mapping) -> SweepSpec:
        """Validate a plain dict (e.g. parsed YAML); every error names the offending field."""
        if not isinstance(values, Mapping):
            fail("spec", f"expected a mapping of {', '.join(_SPEC_KEYS)}, got {type(values).__name__}")
        if "keep_representations" in values:
            fail("keep_representations", "is no longer a sweep option: every run stores its weights, and "
                                         "SweepResult.representations(i) recomputes its representations")
        unknown = [k for k in values if k not in _SPEC_KEYS]
        if unknown:
            fail(str(unknown[0]), "is not a sweep spec key", f"known keys: {', '.join(_SPEC_KEYS)}")
        for required in ("name", "lams", "seeds"):
            if required not in values:
                fail(required, "is required")

        name = values["name"]
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            shown = name if not isinstance(name, str) or len(name) <= 40 else f"{name[:40]}... ({len(name)} "\
                                                                              "characters)"
            fail("name", f"must be a name of at most {MAX_NAME_LENGTH} characters, letters, digits, '_', "
                         f"'.', '-', starting with a letter or digit (it names the results files), got "
                         f"{shown!r}")

        lams = _check_list("lams", values["lams"])
        lams = [check_lam("lams", lam) for lam in lams]
        _check_no_duplicates("lams", lams)

        seeds = _check_list("seeds", values["seeds"])
        seeds = [check_seed("seeds", seed) for seed in seeds]
        _check_no_duplicates("seeds", seeds)

        dataset = values.get("dataset") or {}
        if not isinstance(dataset, Mapping):
            fail("dataset", f"expected a mapping with 'kind' and fixed parameters, got "
                            f"{type(dataset).__name__}")
        dataset = {str(k): _plain(v, f"dataset.{k}") for k, v in dataset.items()}
        grid = values.get("dataset_grid") or {}
        if not isinstance(grid, Mapping):
            fail("dataset_grid", f"expected a mapping of parameter -> list of values, got "
                                 f"{type(grid).__name__}")
        grid = {str(k): _check_list(f"dataset_grid.{k}", v) for k, v in grid.items()}
        grid = {k: [_plain(v, f"dataset_grid.{k}") for v in vs] for k, vs in grid.items()}
        for key, grid_values in grid.items():
            _check_no_duplicates(f"dataset_grid.{key}", grid_values)
            if key == "kind":
                fail("dataset_grid.kind", "the dataset kind cannot vary within a sweep",
                     "write one spec per kind")
            if key in dataset:
                fail(f"dataset_grid.{key}", "is also a fixed parameter in 'dataset'; give it in one place")
        if dataset:
            kind = dataset.get("kind")
            if not isinstance(kind, str):
                fail("dataset.kind", f"is required and must be a string, got {kind!r}",
                     f"known kinds: {', '.join(dataset_kinds())}")
            if kind not in dataset_kinds():
                fail("dataset.kind", f"unknown dataset kind {kind!r}",
                     f"known kinds: {', '.join(dataset_kinds())}")
        elif grid:
            fail("dataset.kind", "dataset_grid is given but dataset names no kind")

        data_seed = values.get("data_seed", 0)
        if data_seed != PER_RUN_DATA_SEED:
            if isinstance(data_seed, str):
                fail("data_seed", f"must be an integer seed or {PER_RUN_DATA_SEED!r} (each run's seed), "
                                  f"got {data_seed!r}")
            data_seed = check_seed("data_seed", data_seed)
        if "data_seed" in values and ("seed" in dataset or "seed" in grid):
            fail("data_seed", "the data seed is also given as dataset parameter 'seed'; give it in one place")

        train = values.get("train") or {}
        if not isinstance(train, Mapping):
            fail("train", f"expected a mapping of training options, got {type(train).__name__}")
        train = dict(train)
        TrainConfig.from_dict(train)  # unknown options and bad values fail here, before any training

        return cls(name=name, lams=tuple(lams), seeds=tuple(seeds), dataset=dataset, dataset_grid=grid,
                   train=train, data_seed=data_seed)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> SweepSpec:
        """Read and validate a YAML spec file."""
        import yaml

        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            fail("spec", f"cannot read {path} ({exc.strerror or exc})")
        except UnicodeDecodeError as exc:
            fail("spec", f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")
        loader = _spec_loader()
        try:
            values = yaml.load(text, Loader=loader)
        except loader.AliasRefused as exc:
            fail("spec", f"{path}, line {exc.line}: YAML anchors and aliases (&name, *name) are not allowed "
                         "in spec files", "write the values out")
        except yaml.YAMLError as exc:
            fail("spec", f"{path} is not valid YAML ({' '.join(str(exc).split())})")
        return cls.from_dict(values if values is not None else {})

    def to_dict(self) -> dict:
        """Plain data (lists, dicts, scalars) that `from_dict` turns back into an equal spec."""
        return {"name": self.name, "dataset": dict(self.dataset),
                "dataset_grid": {k: list(v) for k, v in self.dataset_grid.items()},
                "lams": list(self.lams), "seeds": list(self.seeds), "train": dict(self.train),
                "data_seed": self.data_seed}

    def to_yaml(self) -> str:
        """The spec as YAML text that `from_yaml` reads back into an equal spec."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def data_seed_for(self, seed: int) -> int:
        """The seed that draws the data of the run with seed `seed`: `data_seed`, or `seed` itself when
        `data_seed` is "seed"."""
        seed = check_seed("seed", seed)
        return seed if self.data_seed == PER_RUN_DATA_SEED else self.data_seed

    @property
    def kind(self) -> str | None:
        """The dataset kind the spec names, or None when `run_sweep` gets the data directly."""
        return self.dataset.get("kind")

    def config(self) -> TrainConfig:
        """The `TrainConfig` of every run: the defaults with the spec's `train` overrides."""
        return TrainConfig.from_dict(self.train)

    def grid_points(self) -> list[dict]:
        """Every combination of the grid's values, in the order given (one dict per dataset)."""
        keys = list(self.dataset_grid)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(self.dataset_grid[k] for k in keys))]

    def dataset_params(self, point: Mapping) -> dict:
        """The builder arguments of one grid point: fixed parameters and the point's (the data seed is added
        by the sweep for builders that take `seed`)."""
        params = {k: v for k, v in self.dataset.items() if k != "kind"}
        params.update(point)
        return params

    def expand(self) -> list[RunSpec]:
        """All runs, dataset-major then `lam` then seed (the order of the result table)."""
        return [RunSpec(point, lam, seed)
                for point in self.grid_points() for lam in self.lams for seed in self.seeds]

    def __len__(self) -> int:
        return len(self.grid_points()) * len(self.lams) * len(self.seeds)


@functools.cache
def _spec_loader() -> type:
    """A safe YAML loader that also reads `1e-3` as a number (YAML 1.1 reads it as a string), refuses a key
    given twice in one mapping (YAML would silently keep the last value) and refuses anchors and aliases
    (`AliasRefused`: nested aliases expand ninefold per level)."""
    import yaml

    class AliasRefused(yaml.YAMLError):
        def __init__(self, mark):
            super().__init__(f"anchor or alias on line {mark.line + 1}")
            self.line = mark.line + 1

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            # Aliases can nest so that 500 bytes expand to gigabytes: refused at the first anchor or alias,
            # before anything is built from them.
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise AliasRefused(event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key != "<<":  # merges may repeat keys
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    float_pattern = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_pattern, list("-+0123456789"))
    Loader.AliasRefused = AliasRefused
    return Loader


def load_spec(spec: SweepSpec | Mapping | str | os.PathLike) -> SweepSpec:
    """Accept a spec, a dict or a YAML path."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        return SweepSpec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return SweepSpec.from_yaml(spec)
    fail("spec", f"expected a SweepSpec, a dict or a YAML path, got {type(spec).__name__}")
