"""The build's collection of what the executed chapters emitted (`alignbook.chapters.publish`).

`collect` runs after papermill (`scripts/execute_notebooks.py`): it reads every executed notebook in a
folder, keeps one final line of each progress bar, and writes `claims.json` (each chapter's claims, its
title, the tables it offers and the hash of the notebook they came from, so that a stale collection is
detected), `data/<name>.csv` with `data/<name>.configs.json` beside a table of sweep runs, and the headline
figure. Of `data/`, it removes only the files of tables the previous collection wrote that no chapter offers
any more.
A table's name comes from a notebook's metadata, which anyone can edit: only a name of one safe file stem is
written, so nothing lands outside the folder. `load_collection` reads the collection back for the
scoreboard (`scoreboard.py`, a Sphinx extension beside this module).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from alignbook.chapters import publish

COLLECTION = "claims.json"
HEADLINE_FILE = "headline.svg"

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
    """The records of one kind (`publish.CLAIMS` or `publish.TABLE`) a notebook's outputs carry, in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(publish.RECORD_KEY, {}).get(kind)
            if record is not None:
                found.append(record)
    return found


def headline(notebook) -> tuple[str, dict] | None:
    """The SVG and the figure name and caption of the cell tagged `headline`, or None."""
    for cell in notebook.cells:
        if publish.HEADLINE_TAG not in cell.get("metadata", {}).get("tags", []):
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


def table_files(name: str) -> tuple[str, str]:
    """The file names of a table and of its runs' configurations."""
    return f"{name}.csv", f"{name}{publish.CONFIGS_SUFFIX}"


def check_table_name(name, notebook: str) -> str:
    """A table's name as read from a notebook: one file stem of lowercase letters, digits and '_'."""
    if not isinstance(name, str) or not publish.TABLE_NAME.fullmatch(name):
        raise ValueError(f"{notebook} offers a table named {name!r}: a table's name must be one file stem of "
                         "lowercase letters, digits and '_' (re-execute the notebook with offer_table)")
    return name


def written_tables(folder: Path) -> set[str]:
    """The names of the tables the last collection in `folder` wrote (none when it cannot be read): the
    only files of `data/` a new collection removes."""
    try:
        chapters = json.loads((folder / COLLECTION).read_text())["chapters"]
        return {check_table_name(name, COLLECTION) for entry in chapters.values() for name in entry["tables"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()


def collect(folder) -> dict:
    """Collect the records of every executed notebook in `folder`; write `claims.json`, the tables (with
    their runs' configurations) in `data/` and the headline figure there, and return the collection.

    Progress bars are tidied in the notebooks first (`tidy_streams`), so the hashes are of the files the
    book reads. Raises ValueError when a table's name is not a safe file stem, two chapters offer tables of
    one name or more than one figure is tagged `headline`; no table is written then.
    """
    import nbformat

    folder = Path(folder)
    data = folder / publish.DATA_DIR
    chapters, headline_entry, names, files, svg = {}, None, {}, {}, None
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if tidy_streams(notebook):
            nbformat.write(notebook, path)
        claims = [row for record in records(notebook, publish.CLAIMS) for row in record]
        tables = records(notebook, publish.TABLE)
        for table in tables:
            name = check_table_name(table.get("name"), path.name)
            if name in names:
                raise ValueError(f"{names[name]} and {path.stem} both offer {name}.csv")
            names[name] = path.stem
            csv_name, configs_name = table_files(name)
            files[csv_name] = table["csv"]
            if "runs" in table:
                files[configs_name] = json.dumps(table["runs"], indent=1, sort_keys=True) + "\n"
        found = headline(notebook)
        if found is not None:
            if headline_entry is not None:
                raise ValueError(f"{headline_entry['chapter']} and {path.stem} both tag a figure 'headline'")
            svg, headline_entry = found[0], {**found[1], "chapter": path.stem}
        chapters[path.stem] = {"title": notebook_title(notebook), "sha256": file_hash(path), "claims": claims,
                               "tables": [t["name"] for t in tables]}
    if files:
        data.mkdir(exist_ok=True)
    for file_name, text in files.items():
        (data / file_name).write_text(text)
    for name in written_tables(folder) - set(names):  # tables no chapter offers any more
        for file_name in table_files(name):
            (data / file_name).unlink(missing_ok=True)
    if svg is not None:
        (folder / HEADLINE_FILE).write_text(svg)
    elif (folder / HEADLINE_FILE).exists():
        (folder / HEADLINE_FILE).unlink()
    collection = {"chapters": chapters, "headline": headline_entry}
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
    try:
        collection = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is unreadable ({exc}): {again}") from None
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
