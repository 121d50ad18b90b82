"""What a chapter hands to the rest of the book: its claims and its tables for download.

A chapter emits its records as outputs of its own executed notebook (in the output's metadata, under
`alignbook`, which no renderer shows), so the executed notebook is the one source of everything the site
shows:

- `record_claims` emits the chapter's claim table (verdict per claim, and per regime where the chapter
  has regimes); the intro's scoreboard lists every recorded claim;
- `offer_table` emits a tidy results table: the page shows a download link and a data dictionary of its
  columns. A table of sweep runs also carries each run's full configuration (`run_configurations`), which
  the page offers beside the CSV, so that any row can be retrained from the downloads alone;
- a figure cell tagged `headline` marks the one figure the intro shows.

The book's build (`book/_ext/collection.py`, run by `scripts/execute_notebooks.py`) reads these records
from the executed notebooks and writes the files; nothing here touches the build's folders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from alignbook.analysis.protocol import OPTIMUM_COLUMNS
from alignbook.checks import fail

RECORD_KEY = "alignbook"  # outputs carry their records in metadata[RECORD_KEY][kind]
CLAIMS, TABLE = "claims", "table"
DATA_DIR = "data"  # the tables' folder beside the executed notebooks, as the pages link it
CONFIGS_SUFFIX = ".configs.json"  # <name>.configs.json: the run configurations of <name>.csv
TABLE_NAME = re.compile(r"[a-z0-9_]+")  # a table's name: one file stem, safe in any folder
HEADLINE_TAG = "headline"
# Columns of a table of sweep runs (`sweep.table_columns`) that locate each run's configuration
RUN_COLUMNS = ("spec", "dataset_kind", "dataset", "lam", "seed", "config", "key")
VERDICTS = ("confirmed", "partly confirmed", "not confirmed", "contradicted", "not testable here")

# What the columns of the book's tidy tables mean; `offer_table` takes more, or different, per table. The
# columns of the optima tables are the verdict protocol's own (`analysis.OPTIMUM_COLUMNS`).
COLUMN_MEANINGS = {
    **OPTIMUM_COLUMNS,
    "redundancy": "redundancy level r: label bits that both modalities see (0 to 8)",
    "depth": "heterogeneity depth d of modality 2's frozen random map",
    "n_train": "labelled training examples the encoders were trained on",
    "dataset": "dataset name (for view pairs: x1 view and x2 view)",
    "modality": "name of the encoder's modality",
    "encoder": "1 (modality x1) or 2 (modality x2)",
    "lam": "alignment strength lam (0: independent training)",
    "seed": "seed of the run: its initialisation and batch order, and its data when data_seed equals it",
    "data_seed": "seed that drew the dataset (samples, split, labelled subset); equal to seed when every "
                 "replicate draws its own data",
    "status": "ok, or diverged (left out of every statistic)",
    "acc": "test accuracy of the encoder's own head, at its best validation checkpoint",
    "val_acc": "validation accuracy of the encoder's own head at that checkpoint",
    "loss": "test task loss of the encoder",
    "metric": "the measured quantity (e.g. acc: test accuracy; an alignment metric)",
    "spec": "name of the sweep",
    "dataset_kind": "kind of dataset in the package's registry",
    "n_samples": "examples drawn from the generator",
    "best_epoch": "epoch of the checkpoint whose validation accuracy was best (its weights are kept)",
    "best_step": "optimiser steps done at that checkpoint",
    "steps": "optimiser steps the run trained before it stopped",
    "hit_cap": "whether the run stopped at its step cap instead of by early stopping",
    "time_s": "wall time of the run, seconds (varies between machines)",
    "error": "error message of a diverged run, else empty",
    "config": "training configuration of the run (TrainConfig.key())",
    "key": "cache key of the run",
    "run": "index of the run in the sweep",
}
# Families of columns, by prefix: the rest of the name is an alignment metric
PREFIX_MEANINGS = {
    "align_": "alignment between the two encoders' test representations: {}",
    "chance_": "chance level of align_{}: its score on shuffled pairs",
}


def column_meaning(column: str, extra: Mapping[str, str] | None = None) -> str | None:
    """What a column of a tidy table means: from `extra`, `COLUMN_MEANINGS` or `PREFIX_MEANINGS`."""
    if extra and column in extra:
        return extra[column]
    if column in COLUMN_MEANINGS:
        return COLUMN_MEANINGS[column]
    for prefix, meaning in PREFIX_MEANINGS.items():
        if column.startswith(prefix):
            return meaning.format(column[len(prefix):])
    if column[-1:] in ("1", "2") and column[:-1] in COLUMN_MEANINGS:  # acc1: acc of encoder 1
        return f"{COLUMN_MEANINGS[column[:-1]]}, encoder {column[-1]}"
    return None


def _display(data: dict, kind: str, record) -> None:
    from IPython.display import display  # only notebooks display

    display(data, raw=True, metadata={RECORD_KEY: {kind: record}})


# --------------------------------------------------------------------------------------------------------
# In the chapters


def claim_records(table: pd.DataFrame, decided_by,
                  regimes: Mapping[str, pd.DataFrame] | None = None) -> list:
    """Rows of a claim table (`analysis.claims.claims_table`) as plain records for the scoreboard.

    `decided_by` names the figure or section (a label of the book) that decides each claim: one label for
    all, or a mapping claim -> label. `regimes` maps a regime's name to the claim table computed on that
    regime alone (same claims); each record then carries the verdict per regime.
    """
    if not isinstance(table, pd.DataFrame) or table.empty or "verdict" not in table.columns:
        fail("table", "must be a non-empty claim table with a 'verdict' column, indexed by claim")
    if "source" not in table.columns:
        fail("table", "needs a 'source' column: how sure we are of the claim's wording")
    regimes = dict(regimes or {})
    records = []
    for claim, row in table.iterrows():
        label = decided_by.get(claim) if isinstance(decided_by, Mapping) else decided_by
        if not isinstance(label, str) or not label:
            fail("decided_by", f"names no figure or section for the claim {claim!r}")
        by_regime = {}
        for regime, part in regimes.items():
            if claim not in part.index:
                fail("regimes", f"the table of regime {regime!r} has no claim {claim!r}")
            by_regime[str(regime)] = str(part.loc[claim, "verdict"])
        record = {"claim": str(claim), "source": str(row["source"]), "verdict": str(row["verdict"]),
                  "decided_by": label, "regimes": by_regime}
        if "agree" in table.columns and "cases" in table.columns:
            record["cases"] = [int(row["agree"]), int(row["cases"])]
        records.append(record)
    used = {r["verdict"] for r in records} | {v for r in records for v in r["regimes"].values()}
    unknown = sorted(used - set(VERDICTS))
    if unknown:
        fail("table", f"verdicts must be among {VERDICTS}, got {unknown}")
    return records


def record_claims(table: pd.DataFrame, decided_by, regimes: Mapping[str, pd.DataFrame] | None = None) -> None:
    """Emit the chapter's claims for the intro's scoreboard (see `claim_records` for the arguments).

    The output is meant for the build, not the reader: tag the cell `remove-cell`.
    """
    records = claim_records(table, decided_by, regimes)
    _display({"text/plain": f"{len(records)} claims recorded for the scoreboard"}, CLAIMS, records)


def run_configurations(flat: pd.DataFrame, datasets: Mapping[str, Mapping] | None = None) -> dict | None:
    """Everything needed to retrain each run of a table of sweep runs, or None for another table.

    A table of sweep runs has the columns `RUN_COLUMNS`. Its `spec` column names the sweeps, whose specs
    `run_sweep` wrote beside their results tables (`paths.results_dir()/<spec>.yaml`): they give the
    dataset kind, its fixed parameters, the data seed and the kept representations. Its `config` column
    holds `TrainConfig.key()`: the returned `configs` map each key to the full training configuration, checked
    against the key. Datasets handed to `run_sweep` directly (kind `custom`) cannot be rebuilt from a spec:
    `datasets` maps such a dataset's name to a recipe `{"kind": <registered kind>, **parameters}` that
    `sweep.build_dataset` takes; the names given are published as `datasets`.
    """
    if not set(RUN_COLUMNS) <= set(flat.columns):
        return None
    from alignbook import paths
    from alignbook.sweep import dataset_kinds, load_spec

    specs, configs = {}, {}
    folder = paths.results_dir()
    for name, rows in flat.groupby("spec", sort=True):
        path = folder / f"{name}.yaml"
        if not path.is_file():
            fail("frame", f"names the sweep {name!r}, whose spec {path} is missing",
                 "offer the table that run_sweep returned, after it ran")
        spec = load_spec(path)
        key = spec.config().key()
        found = sorted(set(rows["config"]))
        if found != [key]:
            fail("frame", f"rows of the sweep {name!r} have the configurations {found}, but {path} has {key}",
                 "offer the table right after the sweep that wrote it")
        specs[str(name)] = spec.to_dict()
        configs[key] = spec.config().to_dict()
    recipes = {}
    for name, recipe in dict(datasets or {}).items():
        if not isinstance(recipe, Mapping) or recipe.get("kind") not in dataset_kinds():
            fail("datasets", f"the recipe of {name!r} must be a mapping with a 'kind' among "
                             f"{dataset_kinds()}, got {recipe!r}")
        recipes[str(name)] = dict(recipe)
    return {"specs": specs, "configs": configs, "datasets": recipes}


def table_record(frame: pd.DataFrame, name: str, about: str, columns: Mapping[str, str] | None = None,
                 datasets: Mapping[str, Mapping] | None = None) -> dict:
    """A tidy table with its data dictionary (and its runs' configurations), as `offer_table` emits it.

    The index is written as ordinary columns. Every column needs a meaning: from `columns`, else from
    `COLUMN_MEANINGS` and `PREFIX_MEANINGS`. A table of sweep runs also carries `runs`, the
    `run_configurations` of its rows (`datasets`: see there).
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        fail("frame", "must be a non-empty pandas DataFrame")
    if not isinstance(name, str) or not TABLE_NAME.fullmatch(name):
        fail("name", f"must be a lowercase file stem of letters, digits and '_', got {name!r}")
    if not isinstance(about, str) or not about.strip():
        fail("about", "must say in a few words what one row of the table is")
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    meanings = {str(c): column_meaning(str(c), columns) for c in flat.columns}
    missing = [c for c, meaning in meanings.items() if meaning is None]
    if missing:
        fail("columns", f"give a meaning for the column(s) {missing}")
    record = {"name": name, "about": about.strip(), "rows": len(flat), "columns": meanings,
              "csv": flat.to_csv(index=False, float_format="%.6g")}
    runs = run_configurations(flat, datasets)
    if runs is not None:
        record["runs"] = runs
    elif datasets:
        fail("datasets", "describes the data of sweep runs, but the table has no columns "
                         f"{list(RUN_COLUMNS)}")
    return record


def table_markdown(record: Mapping) -> str:
    """The download links and the data dictionary that a page shows for a table record."""
    lines = [f"{{download}}`{record['name']}.csv <{DATA_DIR}/{record['name']}.csv>`: {record['about']} "
             f"({record['rows']} rows, {len(record['columns'])} columns, comma-separated)."]
    if "runs" in record:
        configs = f"{record['name']}{CONFIGS_SUFFIX}"
        lines[0] += (f" Each run's full configuration, by the `spec` and `config` of its row, is in "
                     f"{{download}}`{configs} <{DATA_DIR}/{configs}>`: enough to retrain any row "
                     "(`make verify` does).")
    lines += ["", "```{dropdown} Columns of " + f"{record['name']}.csv", "| column | meaning |",
              "| --- | --- |"]
    lines += [f"| `{column}` | {meaning} |" for column, meaning in record["columns"].items()]
    lines.append("```")
    return "\n".join(lines)


def offer_table(frame: pd.DataFrame, name: str, about: str, columns: Mapping[str, str] | None = None,
                datasets: Mapping[str, Mapping] | None = None) -> None:
    """Offer a tidy results table for download as `name.csv`, with a dictionary of its columns.

    `about` says what one row is; `columns` gives the meaning of columns not in `COLUMN_MEANINGS`. A table
    of sweep runs is offered with its runs' configurations (`run_configurations`; `datasets` gives the
    recipes of data handed to the sweep directly). Tag the cell `remove-input`: the reader sees the links,
    the build writes the files.
    """
    record = table_record(frame, name, about, columns, datasets)
    _display({"text/markdown": table_markdown(record), "text/plain": f"{name}.csv: {record['rows']} rows"},
             TABLE, record)
