"""The results table of a sweep: one tidy row per run and encoder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alignbook.data.registry import CUSTOM_KIND
from alignbook.training.results import FitResult

_ENCODER_FIELDS = ("acc", "loss", "val_acc", "best_epoch", "best_step")
_RUN_FIELDS = ("steps", "hit_cap")


def results_table(spec, records: list[dict], pd) -> Any:
    """Tidy table: one row per run and encoder, columns documented in `table_columns`."""
    # Dataset parameter columns: the varied ones first, then the fixed ones; the data's seed is `data_seed`
    # (`seed` is the run's). Datasets handed over directly have none.
    param_keys = [k for k in spec.dataset_grid]
    for record in records:
        if record["draw"].kind != CUSTOM_KIND:
            param_keys += [k for k in record["draw"].params if k not in param_keys]
    column_of = {k: "data_seed" if k == "seed" else k for k in param_keys}
    align_names = list(dict.fromkeys(m for r in records for m in r["result"].alignment))
    chance_names = list(dict.fromkeys(m for r in records for m in r["result"].alignment_chance))
    rows = []
    for index, record in enumerate(records):
        result: FitResult = record["result"]
        draw = record["draw"]
        for encoder in (1, 2):
            row = {"spec": spec.name, "dataset_kind": draw.kind, "dataset": draw.described["name"]}
            if draw.kind != CUSTOM_KIND:
                row.update({column_of[k]: _cell(draw.params.get(k)) for k in param_keys})
            row.update({"lam": result.lam, "seed": result.seed, "encoder": encoder,
                        "modality": draw.described["modalities"][encoder - 1]})
            for name in _ENCODER_FIELDS:
                row[name] = getattr(result, f"{name}{encoder}")
            row.update({name: getattr(result, name) for name in _RUN_FIELDS})
            row.update({f"align_{m}": result.alignment.get(m, float("nan")) for m in align_names})
            row.update({f"chance_{m}": result.alignment_chance.get(m, float("nan")) for m in chance_names})
            row.update({"time_s": result.time_s, "status": result.status, "error": result.error,
                        "config": result.config.key(), "key": record["key"], "run": index})
            rows.append(row)
    columns = table_columns([column_of[k] for k in param_keys], align_names, chance_names)
    return pd.DataFrame(rows, columns=columns)


def _cell(value):
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def table_columns(param_keys: Iterable[str] = (), align_names: Iterable[str] = (),
                  chance_names: Iterable[str] = ()) -> list[str]:
    """Columns of a sweep table, in order.

    spec, dataset_kind, dataset (name), one column per dataset parameter (grid ones first; the data's seed as
    data_seed: the run's own seed when the spec draws data per seed), lam, seed (of the run), encoder (1 or
    2), modality, acc, loss, val_acc, best_epoch, best_step (of that encoder), steps (optimiser steps the run
    took) and hit_cap (whether it stopped at its step cap rather than by early stopping), align_<metric> and
    chance_<metric> (of the run, repeated on both encoder rows, in the metrics' order), time_s, status
    ("ok"/"failed"), error, config (TrainConfig.key()), key (cache key of the run), run (index into
    SweepResult.runs).
    """
    return ["spec", "dataset_kind", "dataset", *param_keys, "lam", "seed", "encoder", "modality",
            *_ENCODER_FIELDS, *_RUN_FIELDS, *(f"align_{m}" for m in align_names),
            *(f"chance_{m}" for m in chance_names), "time_s", "status", "error", "config", "key", "run"]
