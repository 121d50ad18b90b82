"""The run cache: one entry per trained run, keyed by everything that decides its training, checked on every
read.

A run's key material is its dataset (kind, parameters and the fingerprint of its arrays), its training
configuration (`TrainConfig` without the measurement options, `MEASUREMENT_FIELDS`), `lam`, its seed, the
package version and the code of the trainers (`deps.code_hash` of `TRAINERS`: every module they reach by their
imports). An edit of code a run does not go through (the metrics, the sweep, the analysis, the chapters) keeps
every run; alignment is measured in a second stage with its own cache (`sweep.measure`).

An entry (`storage.EntryStore` of kind "run") holds what training produced: the run's scalar results
(accuracies, best checkpoints, steps, status), its history, and its best-checkpoint weights (`<key>.npz`:
`enc1.<name>` and `enc2.<name>` arrays, the encoder and task head of each branch), from which measurements and
probes recompute representations. Measured size: see `RUN_ENTRY_BYTES`.

Deterministic datasets (a registered builder that promises it) have their description (fingerprint, name,
modality names) remembered in entries of kind "dataset", keyed by the builder's parameters and code, so a
fully cached sweep need not build them again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alignbook.config import TrainConfig
from alignbook.storage import deps
from alignbook.storage.entries import EntryStore
from alignbook.storage.files import on_disk
from alignbook.storage.records import material_key
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")

RUN_FORMAT = 3
DATASET_FORMAT = 2
# The trainers a sweep may run (`sweep.trainer`): their code, and what they import, keys every run.
TRAINERS = ("alignbook.training.vectorized", "alignbook.training.single")
# TrainConfig fields that decide only the measurement of a run, not its training: they key measurements.
MEASUREMENT_FIELDS = ("metric_layer", "knn_k", "eval_max_samples")
# FitResult fields an entry does not hold as scalars: the configuration is its key material, the weights are
# its arrays, alignment belongs to the measurement stage, representations are recomputed from the weights.
NOT_SCALARS = ("config", "weights1", "weights2", "alignment", "alignment_chance", "z1", "z2", "history")
# What JSON gives back for each annotated type of a FitResult field.
JSON_TYPES = {"float": (int, float), "int": (int,), "str": (str,), "bool": (bool,), "dict": (dict,),
              "list": (list,)}


@functools.cache
def training_code() -> str:
    """Sha256 of the trainers' code (`deps.code_hash(*TRAINERS)`)."""
    return deps.code_hash(*TRAINERS)


def training_options(config: TrainConfig) -> dict:
    """The fields of `config` that decide training (all but `MEASUREMENT_FIELDS`)."""
    return {k: v for k, v in config.to_dict().items() if k not in MEASUREMENT_FIELDS}


def group_material(dataset_kind: str, dataset_params: Mapping, fingerprint: str, config: TrainConfig) -> dict:
    """The key material the runs of one dataset and configuration share: everything but `lam` and `seed`."""
    import alignbook

    return {"dataset": {"kind": dataset_kind, "params": dict(dataset_params), "fingerprint": fingerprint},
            "config": training_options(config), "code": training_code(), "version": alignbook.__version__}


def run_material(group: Mapping, lam: float, seed: int) -> dict:
    """Everything that decides one run's training: hashed into its key and stored in its entry."""
    return {**group, "lam": float(lam), "seed": int(seed)}


def run_key(dataset_kind: str, dataset_params: Mapping, fingerprint: str, config: TrainConfig, lam: float,
            seed: int) -> str:
    """Sha256 of everything that decides a run's training."""
    return material_key(run_material(group_material(dataset_kind, dataset_params, fingerprint, config), lam,
                                     seed))


def _scalar_fields() -> dict[str, str]:
    return {f.name: f.type for f in dataclasses.fields(FitResult) if f.name not in NOT_SCALARS}


def _checked_scalars(fields) -> dict:
    """The stored scalars of a run, if they are every scalar field of a `FitResult` with the right type."""
    if not isinstance(fields, dict):
        raise ValueError(f"its result is a {type(fields).__name__}, not a mapping")
    expected = _scalar_fields()
    missing, unknown = sorted(set(expected) - set(fields)), sorted(set(fields) - set(expected))
    if missing or unknown:
        raise ValueError(f"its result lacks fields {missing} and has unknown fields {unknown}")
    for name, annotation in expected.items():
        allowed = JSON_TYPES.get(annotation, object)
        value = fields[name]
        if (isinstance(value, bool) and annotation != "bool") or not isinstance(value, allowed):
            raise ValueError(f"its result field {name} holds {value!r}, not a {annotation}")
    if fields["status"] not in ("ok", "failed"):
        raise ValueError(f"its result has status {fields['status']!r}")
    return fields


def _weight_arrays(result: FitResult) -> dict[str, np.ndarray] | None:
    if result.weights1 is None or result.weights2 is None:
        return None
    return {f"enc{m}.{name}": np.asarray(value, dtype=np.float32)
            for m, weights in ((1, result.weights1), (2, result.weights2)) for name, value in weights.items()}


def _split_weights(arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    weights: tuple[dict, dict] = ({}, {})
    for name, value in arrays.items():
        branch, _, parameter = name.partition(".")
        if branch not in ("enc1", "enc2") or not parameter:
            raise ValueError(f"holds an array {name!r} that is no branch's parameter")
        weights[int(branch[3]) - 1][parameter] = value
    return weights


# Measured on the synthetic study's runs (two 32-wide MLP branches of depth 2, about 190 checkpoints of
# history at most): the record is 4 to 60 KB (the history dominates), the weights 22 KB. Rounded up, per run.
RUN_ENTRY_BYTES = 96 * 1024


def entry_size(config: TrainConfig) -> int:
    """A generous estimate of the disk space of one run's entry (`RUN_ENTRY_BYTES`, more for wide
    encoders)."""
    widths = config.width * config.width * config.depth + config.width * config.repr_dim
    return on_disk(RUN_ENTRY_BYTES + 2 * 4 * widths)


class RunCache:
    """The runs (`<root>/runs/`) and the deterministic datasets' descriptions (`<root>/datasets/`) of a cache
    root."""

    def __init__(self, root: Path):
        """A cache rooted at the folder `root` (created on first write)."""
        self.root = Path(root)
        self.runs = EntryStore(self.root, "runs", "run", RUN_FORMAT)
        self.datasets = EntryStore(self.root, "datasets", "dataset", DATASET_FORMAT)

    # -------------------------------------------------------------------------- runs

    def read(self, key: str, lam: float, seed: int, config: TrainConfig, weights: bool = False,
             warn: bool = True) -> FitResult | None:
        """The cached run of `config` (with its weights when asked), or None when absent; an entry failing a
        check, or one that holds another run than `(lam, seed)` and `config`'s training options, is logged and
        treated as absent. The result carries `config` itself, measurement options included."""
        found = self.runs.read(key, arrays=weights, warn=warn)
        if found is None:
            return None
        body, arrays = found
        try:
            return self._result(body, arrays, lam, seed, config, weights)
        except Exception as exc:  # noqa: BLE001 - a damaged entry must never enter the table
            if warn:
                logger.warning("run entry %s holds %s; training that run again", self.runs.record_path(key),
                               exc)
            return None

    @staticmethod
    def _result(body: dict, arrays: dict | None, lam: float, seed: int, config: TrainConfig,
                weights: bool) -> FitResult:
        material = body["key_material"]
        if material.get("lam") != float(lam) or material.get("seed") != int(seed):
            raise ValueError(f"key material of lam={material.get('lam')}, seed={material.get('seed')}")
        if material.get("config") != training_options(config):
            raise ValueError("key material of other training options")
        fields = _checked_scalars(body.get("result"))
        if fields["lam"] != material["lam"] or fields["seed"] != material["seed"]:
            raise ValueError(f"a result of lam={fields['lam']}, seed={fields['seed']}, not those of its key")
        history = body.get("history")
        if not isinstance(history, list):
            raise ValueError("no history")
        result = FitResult(config=config, history=history, **fields)
        if weights and fields["status"] == "ok":
            if arrays is None:
                raise ValueError("no weights")
            result.weights1, result.weights2 = _split_weights(arrays)
        return result

    def write(self, key: str, result: FitResult, material: Mapping) -> None:
        """Store one run: its weights, then the record that completes the entry."""
        scalars = {name: getattr(result, name) for name in _scalar_fields()}
        self.runs.write(key, material, {"result": scalars, "history": list(result.history)},
                        _weight_arrays(result))

    def claim(self, key: str, wait: bool = False):
        """Claim run `key` for this process (`storage.locks.claim`)."""
        return self.runs.claim(key, wait=wait)

    # -------------------------------------------------------------------------- datasets

    @staticmethod
    def _description_material(kind: str, params: Mapping, builder_module: str) -> dict:
        import alignbook

        return {"kind": kind, "params": dict(params), "code": deps.module_code(builder_module),
                "version": alignbook.__version__}

    def remembered_dataset(self, kind: str, params: Mapping, builder_module: str) -> dict | None:
        """Fingerprint, name and modality names a deterministic builder gave for these parameters, or None."""
        material = self._description_material(kind, params, builder_module)
        found = self.datasets.read(material_key(material))
        if found is None:
            return None
        description = found[0].get("description")
        if not (isinstance(description, dict) and set(description) == {"fingerprint", "name", "modalities"}
                and isinstance(description["fingerprint"], str) and isinstance(description["name"], str)
                and isinstance(description["modalities"], list) and len(description["modalities"]) == 2):
            return None
        return description

    def remember_dataset(self, kind: str, params: Mapping, builder_module: str, described: Mapping) -> None:
        """Store a deterministic dataset's description; where the cache cannot be written, skip it
        (remembering only saves building the dataset next time)."""
        material = self._description_material(kind, params, builder_module)
        try:
            self.datasets.write(material_key(material), material, {"description": dict(described)})
        except OSError:
            pass

    # -------------------------------------------------------------------------- upkeep

    def remove_stale_temporaries(self) -> int:
        """Remove what killed writers left in the cache's folders."""
        return self.runs.remove_stale_temporaries() + self.datasets.remove_stale_temporaries()

    def check_writable(self) -> None:
        """Fail before any training when the cache folder cannot be written."""
        self.runs.check_writable()

    def check_space(self, needed: int) -> None:
        """Fail before any training when the cache's disk has less than `needed` bytes free."""
        self.runs.check_space(needed)
