"""The measurement stage: how aligned a run's two encoders are, computed from its stored weights and cached.

Alignment is measured after training, from the run's best-checkpoint weights (`sweep.cache`): both branches
are rebuilt (`training.weights.load_branches`), each encoder's layer-wise representations of the first
`eval_max_samples` test examples are computed (`training.common.representations`) and scored by
`metrics.pair_alignment` (`metric_layer`, `knn_k`; chance levels seeded by the run's seed). A measurement is
an entry of kind "measurement" keyed by the run's key, the measurement options (`cache.MEASUREMENT_FIELDS`)
and the code this module reaches (`deps.code_hash`): an edit of the metrics measures every run again from its
stored weights, and retrains none. Its metrics are stored as ordered pairs, so they read back in the order the
metrics module gives them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.storage import deps
from alignbook.storage.entries import EntryStore
from alignbook.storage.records import material_key
from alignbook.sweep.cache import MEASUREMENT_FIELDS
from alignbook.training.results import FitResult

MEASUREMENT_FORMAT = 1


@functools.cache
def measurement_code() -> str:
    """Sha256 of the code a measurement runs through (this module and what it imports)."""
    return deps.code_hash(__name__)


def measurement_material(run_key: str, config: TrainConfig) -> dict:
    """What decides a run's measurement: the run itself (its key), the measurement options and their code."""
    import alignbook

    options = config.to_dict()
    return {"run": run_key, "options": {name: options[name] for name in MEASUREMENT_FIELDS},
            "code": measurement_code(), "version": alignbook.__version__}


def measurement_key(run_key: str, config: TrainConfig) -> str:
    """The key of a run's measurement (`measurement_material`)."""
    return material_key(measurement_material(run_key, config))


def representations(dataset: PairedDataset, result: FitResult, split: str = "test", rows: int | None = None,
                    layers: bool = False):
    """Both encoders' representations of the first `rows` examples (all when None) of `split`, from the run's
    weights: `(z1, z2)`, or with `layers` two lists of every layer's representation (hidden layers, then
    z)."""
    from alignbook.training.common import representations as encode
    from alignbook.training.weights import load_branches

    if result.weights1 is None or result.weights2 is None:
        raise ValueError(f"the run lam={result.lam}, seed={result.seed} has no weights (status "
                         f"{result.status})")
    part = dataset.splits[split]
    rows = len(part) if rows is None else min(rows, len(part))
    branch1, branch2 = load_branches(result.config, dataset, result.weights1, result.weights2)
    return (encode(branch1, part.x1[:rows], layers=layers), encode(branch2, part.x2[:rows], layers=layers))


def measure_run(dataset: PairedDataset, result: FitResult) -> tuple[dict, dict]:
    """The alignment of a trained run's encoders and its chance levels, `(alignment, chance)`: empty for a
    failed run or an empty test split."""
    from alignbook import metrics

    config = result.config
    if not result.ok or not len(dataset.test):
        return {}, {}
    layers1, layers2 = representations(dataset, result, rows=config.eval_max_samples, layers=True)
    return metrics.pair_alignment(layers1, layers2, config.metric_layer, k=config.knn_k, seed=result.seed)


class Measurements:
    """The cached measurements of a cache root (`<root>/measurements/`)."""

    def __init__(self, root: Path):
        self.entries = EntryStore(Path(root), "measurements", "measurement", MEASUREMENT_FORMAT)

    def read(self, key: str, warn: bool = True) -> tuple[dict, dict] | None:
        """`(alignment, chance)` stored under `key`, or None when absent or failing a check."""
        found = self.entries.read(key, warn=warn)
        if found is None:
            return None
        body = found[0]
        try:
            return _pairs(body["alignment"]), _pairs(body["chance"])
        except (KeyError, TypeError, ValueError):
            return None

    def write(self, key: str, material: Mapping, alignment: Mapping, chance: Mapping) -> None:
        """Store a measurement; its metrics keep their order."""
        self.entries.write(key, material, {"alignment": [[k, v] for k, v in alignment.items()],
                                           "chance": [[k, v] for k, v in chance.items()]})

    def remove_stale_temporaries(self) -> int:
        """Remove what killed writers left here."""
        return self.entries.remove_stale_temporaries()


def _pairs(stored) -> dict:
    if not isinstance(stored, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and (p[1] is None or isinstance(p[1], (int, float))) for p in stored):
        raise ValueError("not a list of [metric, value] pairs")
    return {name: float("nan") if value is None else float(value) for name, value in stored}
