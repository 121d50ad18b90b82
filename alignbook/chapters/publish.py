"""What a chapter hands to the rest of the book, and how the build collects it.

A chapter emits its records as outputs of its own executed notebook (in the output's metadata, under
`alignbook`, which no renderer shows), so the executed notebook is the one source of everything the site
shows:

- `record_claims` emits the chapter's claim table (verdict per claim, and per regime where the chapter
  has regimes); the intro's scoreboard lists every recorded claim (`alignbook.chapters.scoreboard`);
- `offer_table` emits a tidy results table: the page shows a download link and a data dictionary of its
  columns, and `collect` writes the table as CSV beside the executed notebooks;
- a figure cell tagged `headline` marks the one figure the intro shows.

`collect` runs after papermill (`scripts/execute_notebooks.py`): it reads every executed notebook in a
folder, keeps one final line of each progress bar, and writes `claims.json` (each chapter's claims, its
title, and the hash of the notebook they came from, so that a stale collection is detected) and
`data/<name>.csv`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from alignbook.checks import fail

RECORD_KEY = "alignbook"  # outputs carry their records in metadata[RECORD_KEY][kind]
CLAIMS, TABLE = "claims", "table"
COLLECTION = "claims.json"
DATA_DIR = "data"
HEADLINE_TAG = "headline"
HEADLINE_FILE = "headline.svg"
VERDICTS = ("confirmed", "partly confirmed", "not confirmed", "contradicted", "not testable here")

# What the columns of the book's tidy tables mean; `offer_table` takes more, or different, per table.
COLUMN_MEANINGS = {
    "redundancy": "redundancy level r: label bits that both modalities see (0 to 8)",
    "depth": "heterogeneity depth d of modality 2's frozen random map",
    "n_train": "labelled training examples the encoders were trained on",
    "dataset": "dataset name (for view pairs: x1 view and x2 view)",
    "modality": "name of the encoder's modality",
    "encoder": "1 (modality x1) or 2 (modality x2)",
    "lam": "alignment strength lam (0: independent training)",
    "seed": "training seed",
    "status": "ok, or diverged (left out of every statistic)",
    "acc": "test accuracy of the encoder's own head",
    "val_acc": "validation accuracy of the encoder's own head",
    "loss": "test task loss of the encoder",
    "lam_star": "lam of the highest seed-mean test accuracy on the grid",
    "lam_low": "2.5 % bootstrap quantile of lam* over seeds",
    "lam_high": "97.5 % bootstrap quantile of lam* over seeds",
    "gain": "seed-mean test accuracy at lam* minus at lam = 0",
    "gain_low": "lower end of the 95 % bootstrap interval of the gain",
    "gain_high": "upper end of the 95 % bootstrap interval of the gain",
    "shape": "tested shape of the accuracy curve: rises, falls, interior optimum or flat",
    "metric": "the measured quantity (e.g. acc: test accuracy)",
    "lam_mode": "most frequent lam* over the bootstrap resamples of seeds",
    "lam_mode_freq": "share of resamples whose lam* is lam_mode (1: all agree)",
    "value_star": "seed-mean value of the metric at lam*",
    "value_base": "seed-mean value of the metric at lam_base",
    "lam_base": "smallest lam of the grid (normally 0)",
    "lam_max": "largest lam of the grid",
    "p_above_base": "one-sided paired test p-value: metric at lam* above lam_base",
    "p_above_end": "one-sided paired test p-value: metric at lam* above lam_max",
    "p_end_below_base": "one-sided paired test p-value: metric at lam_max below lam_base",
    "n_seeds": "seeds with a finished run",
    "n_lams": "values of lam in the grid",
    "n_failed": "diverged runs left out",
    "spec": "name of the sweep",
    "dataset_kind": "kind of dataset in the package's registry",
    "data_seed": "seed that drew the dataset",
    "n_samples": "examples drawn from the generator",
    "best_epoch": "epoch of the checkpoint whose validation accuracy was best (its weights are kept)",
    "best_step": "optimiser steps done at that checkpoint",
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


def table_record(frame: pd.DataFrame, name: str, about: str,
                 columns: Mapping[str, str] | None = None) -> dict:
    """A tidy table with its data dictionary, as `offer_table` emits it.

    The index is written as ordinary columns. Every column needs a meaning: from `columns`, else from
    `COLUMN_MEANINGS` and `PREFIX_MEANINGS`.
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        fail("frame", "must be a non-empty pandas DataFrame")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+", name):
        fail("name", f"must be a lowercase file stem of letters, digits and '_', got {name!r}")
    if not isinstance(about, str) or not about.strip():
        fail("about", "must say in a few words what one row of the table is")
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame
    meanings = {str(c): column_meaning(str(c), columns) for c in flat.columns}
    missing = [c for c, meaning in meanings.items() if meaning is None]
    if missing:
        fail("columns", f"give a meaning for the column(s) {missing}")
    return {"name": name, "about": about.strip(), "rows": len(flat), "columns": meanings,
            "csv": flat.to_csv(index=False, float_format="%.6g")}


def table_markdown(record: Mapping) -> str:
    """The download link and the data dictionary that a page shows for a table record."""
    lines = [f"{{download}}`{record['name']}.csv <{DATA_DIR}/{record['name']}.csv>`: {record['about']} "
             f"({record['rows']} rows, {len(record['columns'])} columns, comma-separated).", "",
             "```{dropdown} Columns of " + f"{record['name']}.csv", "| column | meaning |", "| --- | --- |"]
    lines += [f"| `{column}` | {meaning} |" for column, meaning in record["columns"].items()]
    lines.append("```")
    return "\n".join(lines)


def offer_table(frame: pd.DataFrame, name: str, about: str, columns: Mapping[str, str] | None = None) -> None:
    """Offer a tidy results table for download as `name.csv`, with a dictionary of its columns.

    `about` says what one row is; `columns` gives the meaning of columns not in `COLUMN_MEANINGS`. Tag the
    cell `remove-input`: the reader sees the link, the build (`collect`) writes the file.
    """
    record = table_record(frame, name, about, columns)
    _display({"text/markdown": table_markdown(record), "text/plain": f"{name}.csv: {record['rows']} rows"},
             TABLE, record)


# --------------------------------------------------------------------------------------------------------
# In the build

_CARRIAGE_RETURN = re.compile(r"[^\n]*\r(?=[^\n])")


def terminal_text(text: str) -> str:
    """Stream text as a terminal shows it: a carriage return lets the rest of the line overwrite it, so a
    progress bar keeps only its final state."""
    return _CARRIAGE_RETURN.sub("", text.replace("\r\n", "\n"))


def tidy_streams(notebook) -> bool:
    """Merge each cell's consecutive stream outputs of one name and apply carriage returns, in place.

    Returns whether anything changed. Without this, the book's renderer prints every update of a progress
    bar on a line of its own.
    """
    changed = False
    for cell in notebook.cells:
        outputs = cell.get("outputs", [])
        if not any(o.get("output_type") == "stream" and "\r" in o.get("text", "") for o in outputs):
            continue
        merged = []
        for output in outputs:
            previous = merged[-1] if merged else None
            if (output.get("output_type") == "stream" and previous is not None
                    and previous.get("output_type") == "stream" and previous["name"] == output["name"]):
                previous["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                output["text"] = terminal_text(output["text"])
        cell["outputs"] = merged
        changed = True
    return changed


def notebook_title(notebook) -> str:
    """The text of the notebook's first level-1 heading."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def records(notebook, kind: str) -> list:
    """The records of one kind (`CLAIMS` or `TABLE`) that a notebook's outputs carry, in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(RECORD_KEY, {}).get(kind)
            if record is not None:
                found.append(record)
    return found


def _headline(notebook) -> tuple[str, dict] | None:
    for cell in notebook.cells:
        if HEADLINE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        svgs = [o["data"]["image/svg+xml"] for o in cell.get("outputs", [])
                if "image/svg+xml" in o.get("data", {})]
        figure = cell.metadata.get("mystnb", {}).get("figure", {})
        if len(svgs) != 1 or "name" not in figure:
            raise ValueError("the cell tagged 'headline' must draw one SVG figure with a figure name")
        svg = svgs[0] if isinstance(svgs[0], str) else "".join(svgs[0])
        return svg, {"name": figure["name"], "caption": figure.get("caption", "")}
    return None


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def collect(folder) -> dict:
    """Collect the records of every executed notebook in `folder`; write `claims.json`, `data/*.csv` and
    the headline figure there, and return the collection.

    Progress bars are tidied in the notebooks first (`tidy_streams`), so the hashes are of the files the
    book reads. Raises ValueError when two chapters offer tables of one name or more than one figure is
    tagged `headline`.
    """
    import nbformat

    folder = Path(folder)
    data = folder / DATA_DIR
    chapters, headline, names = {}, None, {}
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if tidy_streams(notebook):
            nbformat.write(notebook, path)
        claims = [row for record in records(notebook, CLAIMS) for row in record]
        tables = records(notebook, TABLE)
        for table in tables:
            if table["name"] in names:
                raise ValueError(f"{names[table['name']]} and {path.stem} both offer {table['name']}.csv")
            names[table["name"]] = path.stem
        found = _headline(notebook)
        if found is not None:
            if headline is not None:
                raise ValueError(f"{headline['chapter']} and {path.stem} both tag a figure 'headline'")
            svg, headline = found[0], {**found[1], "chapter": path.stem}
            (folder / HEADLINE_FILE).write_text(svg)
        if tables:
            data.mkdir(exist_ok=True)
        for table in tables:
            (data / f"{table['name']}.csv").write_text(table["csv"])
        chapters[path.stem] = {"title": notebook_title(notebook), "sha256": file_hash(path), "claims": claims,
                               "tables": [t["name"] for t in tables]}
    if data.is_dir():  # tables no chapter offers any more
        for stale in data.glob("*.csv"):
            if stale.stem not in names:
                stale.unlink()
    if headline is None and (folder / HEADLINE_FILE).exists():
        (folder / HEADLINE_FILE).unlink()
    collection = {"chapters": chapters, "headline": headline}
    (folder / COLLECTION).write_text(json.dumps(collection, indent=1, sort_keys=True) + "\n")
    return collection


def load_collection(folder) -> dict:
    """The collection `collect` wrote in `folder`, checked against the executed notebooks there.

    Raises ValueError, naming what to run, when it is missing or stale: a notebook that is not in it, one
    that changed since it was collected, or one it lists that is gone.
    """
    folder = Path(folder)
    path = folder / COLLECTION
    again = "run `make execute` (or scripts/execute_notebooks.py), which collects it"
    if not path.is_file():
        raise ValueError(f"{path} is missing: {again}")
    collection = json.loads(path.read_text())
    chapters = collection.get("chapters", {})
    present = {p.stem: p for p in folder.glob("*.ipynb")}
    for stem in sorted(set(present) | set(chapters)):
        if stem not in chapters:
            raise ValueError(f"{path} is stale: it has no entry for {stem}.ipynb; {again}")
        if stem not in present:
            raise ValueError(f"{path} is stale: {stem}.ipynb is gone; {again}")
        if file_hash(present[stem]) != chapters[stem]["sha256"]:
            raise ValueError(f"{path} is stale: {stem}.ipynb changed since it was collected; {again}")
    return collection
