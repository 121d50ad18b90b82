"""The datasets of a sweep: its grid points, and each point's data draws.

A point of the dataset grid (or one of the user's own datasets) is a `Point`; its data are one `Draw` per data
seed: a single draw when the spec fixes `data_seed`, one per run seed with `data_seed: seed`, so that a seed
replicates the whole draw (samples, split, labelled subset) as well as the initialisation. A draw is built
once, when needed; deterministic dataset kinds have their description (fingerprint, name, modality names)
remembered in the run cache, so a fully cached sweep need not build them again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from alignbook.checks import fail
from alignbook.data.container import PairedDataset
from alignbook.data.registry import (
    CUSTOM_KIND,
    accepted_params,
    build_dataset,
    builder_for,
    builder_module,
    is_deterministic,
)
from alignbook.sweep.cache import RunCache
from alignbook.sweep.spec import SweepSpec


def replicates_data(spec: SweepSpec) -> bool:
    """Whether each run's seed also draws its data (`data_seed: seed`), not only its initialisation."""
    return spec.data_seed == "seed"


@dataclass
class Draw:
    """One dataset of the sweep: a grid point's data, drawn with one data seed."""

    label: str
    kind: str
    params: dict  # builder arguments (part of the run keys)
    build: Callable[[], PairedDataset]
    deterministic: bool = False
    module: str = ""  # the builder's module (its code keys a remembered description)
    described: dict | None = None  # fingerprint, name, modalities
    dataset: PairedDataset | None = None

    def load(self) -> PairedDataset:
        """The dataset, built once."""
        if self.dataset is None:
            self.dataset = self.build()
        return self.dataset


@dataclass
class Point:
    """A point of the dataset grid (or one of the user's datasets) and its draws by data seed."""

    label: str
    draws: dict[int | None, Draw]

    def draw_for(self, spec: SweepSpec, seed: int) -> Draw:
        """The draw run `seed` trains on: its own with `data_seed: seed`, else the point's one draw."""
        return self.draws[seed if replicates_data(spec) else None]


def grid_points(spec: SweepSpec, data) -> list[Point]:
    """The grid points of `spec`, or the user's datasets `data`, with their draws."""
    if data is not None:
        if spec.kind is not None or spec.dataset_grid:
            fail("data", f"the spec already names dataset kind {spec.kind!r}; give the data one way only")
        if replicates_data(spec):
            fail("data_seed", "'seed' draws each run's data from the spec's dataset kind, but data= gives "
                              "fixed datasets",
                 "register a dataset kind (sweep.register_dataset) that takes a seed")
        if isinstance(data, PairedDataset):
            data = {data.name: data}
        if not isinstance(data, Mapping) or not data:
            fail("data", f"expected a PairedDataset or a non-empty dict name -> PairedDataset, got "
                         f"{type(data).__name__}")
        points = []
        for label, dataset in data.items():
            if not isinstance(dataset, PairedDataset):
                fail(f"data[{label!r}]", f"expected a PairedDataset, got {type(dataset).__name__}")
            draw = Draw(str(label), CUSTOM_KIND, {"name": str(label), **dataset.params},
                         functools.partial(lambda d: d, dataset), dataset=dataset)
            points.append(Point(str(label), {None: draw}))
        return points
    if spec.kind is None:
        fail("dataset.kind", "the spec names no dataset", "give dataset.kind, or pass data= to run_sweep")
    builder = builder_for(spec.kind)
    names, any_keyword = accepted_params(builder)
    takes_seed = "seed" in names or any_keyword
    if replicates_data(spec) and not takes_seed:
        fail("data_seed", f"'seed' draws each run's data, but dataset kind {spec.kind!r} takes no seed")
    points = []
    for point in spec.grid_points():
        base = spec.dataset_params(point)
        unknown = sorted(set(base) - names) if not any_keyword else []
        if unknown:
            where = "dataset_grid" if unknown[0] in spec.dataset_grid else "dataset"
            fail(f"{where}.{unknown[0]}", f"is not a parameter of dataset kind {spec.kind!r}",
                 f"accepted: {', '.join(sorted(names))}")
        label = ",".join(f"{k}={v}" for k, v in point.items()) or spec.kind
        seeds = spec.seeds if replicates_data(spec) else [None]
        draws = {}
        for seed in seeds:
            params = dict(base)
            if takes_seed and "seed" not in params:
                params["seed"] = seed if seed is not None else spec.data_seed
            draw_label = label if seed is None else f"{label},data_seed={params['seed']}"
            draws[seed] = Draw(draw_label, spec.kind, params,
                                functools.partial(build_dataset, spec.kind, **params),
                                is_deterministic(spec.kind), builder_module(spec.kind))
        points.append(Point(label, draws))
    return points


def describe(dataset: PairedDataset, draw: Draw) -> dict:
    """What the table and the run keys need of a dataset (remembered for deterministic kinds)."""
    name = dataset.name if draw.kind != CUSTOM_KIND else draw.label
    return {"fingerprint": dataset.fingerprint(), "name": name, "modalities": list(dataset.modality_names)}


def ensure_described(draw: Draw, cache: RunCache, force: bool) -> None:
    """Describe `draw`: from the cache when its builder is deterministic and it was described before, else by
    building it (and remembering the description)."""
    if draw.described is not None:
        return
    if draw.deterministic and not force and draw.dataset is None:
        draw.described = cache.remembered_dataset(draw.kind, draw.params, draw.module)
        if draw.described is not None:
            return
    draw.described = describe(draw.load(), draw)
    if draw.deterministic:
        cache.remember_dataset(draw.kind, draw.params, draw.module, draw.described)
