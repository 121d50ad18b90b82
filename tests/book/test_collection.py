"""The build's side of what chapters emit (`book/_ext`): the collection of the executed notebooks (claims,
tables and their runs' configurations, the headline figure) and the intro's scoreboard rendered from it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from alignbook.chapters import publish

EXT = Path(__file__).resolve().parents[2] / "book" / "_ext"
sys.path.insert(0, str(EXT))  # the build's modules, as the book's configuration loads them
import collection  # noqa: E402
import scoreboard  # noqa: E402


def output(bundle: dict, kind: str | None = None, record=None):
    metadata = {publish.RECORD_KEY: {kind: record}} if kind else {}
    return nbformat.v4.new_output("display_data", data=bundle, metadata=metadata)


def notebook(title: str, outputs=(), tags=(), figure=None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = list(outputs)
    cell.metadata["tags"] = list(tags)
    if figure:
        cell.metadata["mystnb"] = {"figure": figure}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nText."), cell]
    return nb


def claim_table(verdicts=("confirmed", "contradicted")) -> pd.DataFrame:
    return pd.DataFrame({"claim": [f"claim {i}" for i in range(len(verdicts))], "source": ["[S]", "ours"],
                         "agree": [2, 0], "cases": [2, 3], "verdict": list(verdicts)}).set_index("claim")


def claims_output(table, **kwargs):
    records = publish.claim_records(table, **kwargs)
    return output({"text/plain": "claims"}, publish.CLAIMS, records)


def test_terminal_text_keeps_the_final_state_of_a_progress_bar():
    text = "\r  0%|     | 0/4\r 50%|##   | 2/4\r100%|#####| 4/4\n"
    assert collection.terminal_text(text) == "100%|#####| 4/4\n"
    assert collection.terminal_text("a\r\nb\n") == "a\nb\n"


def test_tidy_streams_merges_the_updates_of_one_bar():
    nb = notebook("T", [nbformat.v4.new_output("stream", name="stderr", text=t)
                        for t in ("\r 0%| 0/2", "\r50%| 1/2", "\r100%| 2/2", "\n")])
    nb.cells.append(nbformat.v4.new_code_cell("print(1)"))
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    assert collection.tidy_streams(nb)
    assert [o["text"] for o in nb.cells[1].outputs] == ["100%| 2/2\n"]
    assert [o["text"] for o in nb.cells[2].outputs] == ["1\n"]
    assert not collection.tidy_streams(nb)


def write_book(folder, with_headline=True):
    table = publish.table_record(pd.DataFrame({"lam": [0.0], "acc": [0.5]}), "runs", "one row per run")
    figure = {"name": "fig-x", "caption": "A figure."}
    svg = output({"image/svg+xml": "<svg>1</svg>", "text/plain": "fig"})
    claims = claims_output(claim_table(), decided_by="fig-x")
    nbformat.write(notebook("First", [claims]), folder / "01_a.ipynb")
    nbformat.write(notebook("Second", [output({"text/plain": "t"}, publish.TABLE, table)]),
                   folder / "02_b.ipynb")
    if with_headline:
        nbformat.write(notebook("Third", [svg], tags=["headline"], figure=figure), folder / "03_c.ipynb")


def test_collect_writes_claims_tables_and_headline(tmp_path):
    write_book(tmp_path)
    collected = collection.collect(tmp_path)
    assert list(collected["chapters"]) == ["01_a", "02_b", "03_c"]
    assert collected["chapters"]["01_a"]["title"] == "First"
    assert [c["claim"] for c in collected["chapters"]["01_a"]["claims"]] == ["claim 0", "claim 1"]
    assert collected["chapters"]["02_b"]["tables"] == ["runs"]
    assert (tmp_path / "data" / "runs.csv").read_text() == "lam,acc\n0,0.5\n"
    assert collected["headline"] == {"chapter": "03_c", "name": "fig-x", "caption": "A figure."}
    assert (tmp_path / "headline.svg").read_text() == "<svg>1</svg>"
    assert json.loads((tmp_path / "claims.json").read_text()) == collected
    assert collection.load_collection(tmp_path) == collected


def test_collect_refuses_two_tables_of_one_name(tmp_path):
    write_book(tmp_path)
    nbformat.write(nbformat.read(tmp_path / "02_b.ipynb", 4), tmp_path / "04_d.ipynb")
    with pytest.raises(ValueError, match="02_b and 04_d both offer runs.csv"):
        collection.collect(tmp_path)


def test_a_missing_or_stale_collection_is_refused(tmp_path):
    write_book(tmp_path)
    with pytest.raises(ValueError, match="claims.json is missing"):
        collection.load_collection(tmp_path)
    collection.collect(tmp_path)
    nb = nbformat.read(tmp_path / "02_b.ipynb", 4)
    nb.cells[0].source += " More."
    nbformat.write(nb, tmp_path / "02_b.ipynb")
    with pytest.raises(ValueError, match="stale: 02_b.ipynb changed since it was collected"):
        collection.load_collection(tmp_path)
    collection.collect(tmp_path)
    nbformat.write(nb, tmp_path / "05_e.ipynb")
    with pytest.raises(ValueError, match="stale: it has no entry for 05_e.ipynb"):
        collection.load_collection(tmp_path)
    (tmp_path / "05_e.ipynb").unlink()
    (tmp_path / "03_c.ipynb").unlink()
    with pytest.raises(ValueError, match="stale: 03_c.ipynb is gone"):
        collection.load_collection(tmp_path)


def test_scoreboard_has_one_row_per_claim_and_the_headline(tmp_path):
    write_book(tmp_path)
    collected = collection.collect(tmp_path)
    text = scoreboard.render(collected, executed="../executed", figure="_generated/headline.svg")
    assert text.startswith("Of the 2 claims this book tests: 1 confirmed, 1 contradicted.")
    assert "**{doc}`../executed/01_a`**" in text and "{doc}`../executed/02_b`" not in text.split("```")[0]
    rows = [line for line in text.splitlines() if line.startswith("| claim ")]
    assert rows == ["| claim 0 | [S] | **confirmed** (2 of 2 cases) | {numref}`fig-x` |",
                    "| claim 1 | ours | **contradicted** (0 of 3 cases) | {numref}`fig-x` |"]
    assert "[S]: secondary summaries" in text and "ours: a question this book adds" in text
    assert "```{figure} _generated/headline.svg" in text
    assert "A figure. From {doc}`../executed/03_c`, {numref}`fig-x`." in text


def test_scoreboard_has_a_column_per_regime():
    records = publish.claim_records(claim_table(), {"claim 0": "fig-a", "claim 1": "sec-b"},
                                    {"d = 1": claim_table(("confirmed", "not confirmed")),
                                     "d = 3": claim_table(("contradicted", "confirmed"))})
    lines = scoreboard.chapter_table(records)
    assert lines[0] == "| Claim | Wording | Our verdict | d = 1 | d = 3 | Decided by |"
    assert lines[3] == ("| claim 1 | ours | **contradicted** (0 of 3 cases) | not confirmed | confirmed "
                        "| {ref}`sec-b` |")


def test_generate_writes_the_include_or_stops(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    write_book(executed)
    with pytest.raises(ValueError, match="missing"):
        scoreboard.generate(tmp_path)
    collection.collect(executed)
    path = scoreboard.generate(tmp_path)
    assert path == tmp_path / "book" / "_generated" / "scoreboard.md"
    assert (tmp_path / "book" / "_generated" / "headline.svg").read_text() == "<svg>1</svg>"
    assert "claim 1" in path.read_text()


def test_an_empty_scoreboard_is_refused(tmp_path):
    nbformat.write(notebook("Only"), tmp_path / "01_a.ipynb")
    with pytest.raises(ValueError, match="no chapter recorded a claim"):
        scoreboard.render(collection.collect(tmp_path))


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "data/x", "..", "", "Runs", "a.b", 7, None])
def test_a_table_name_from_a_notebook_never_leaves_the_folder(tmp_path, name):
    folder = tmp_path / "executed"
    folder.mkdir()
    record = {"name": name, "about": "x", "rows": 1, "columns": {"acc": "a"}, "csv": "acc\n1\n"}
    nbformat.write(notebook("Edited", [output({"text/plain": "t"}, publish.TABLE, record)]),
                   folder / "01_a.ipynb")
    with pytest.raises(ValueError, match=r"01_a.ipynb offers a table named .*: a table's name must be one"):
        collection.collect(folder)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["executed/01_a.ipynb"]


def test_runs_configurations_are_written_beside_their_table_and_only_own_files_are_removed(tmp_path):
    runs = {"specs": {"s": {"name": "s"}}, "configs": {"abc": {"lr": 0.01}}, "datasets": {}}
    record = {"name": "s_runs", "about": "x", "rows": 1, "columns": {"acc": "a"}, "csv": "acc\n1\n",
              "runs": runs}
    nbformat.write(notebook("Runs", [output({"text/plain": "t"}, publish.TABLE, record)]),
                   tmp_path / "01_a.ipynb")
    data = tmp_path / "data"
    data.mkdir()
    for mine in ("mine.csv", "mine.configs.json", "notes.txt"):  # a reader's own files
        (data / mine).write_text("x")
    collection.collect(tmp_path)
    assert json.loads((data / "s_runs.configs.json").read_text()) == runs
    listed = ["mine.configs.json", "mine.csv", "notes.txt", "s_runs.configs.json", "s_runs.csv"]
    assert sorted(p.name for p in data.iterdir()) == listed
    # the chapter no longer offers the table: the files the last collection wrote go, the reader's stay
    nbformat.write(notebook("Runs"), tmp_path / "01_a.ipynb")
    collection.collect(tmp_path)
    assert sorted(p.name for p in data.iterdir()) == listed[:3]


def test_an_unreadable_collection_says_what_to_run(tmp_path):
    write_book(tmp_path)
    collection.collect(tmp_path)
    (tmp_path / "claims.json").write_text('{"chapters": {')
    with pytest.raises(ValueError, match=r"claims.json is unreadable \(.*\): run `make execute`"):
        collection.load_collection(tmp_path)
