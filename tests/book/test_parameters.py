"""Fault injection: whatever goes wrong, nothing wrong is served and nothing is left behind.

Each test plants a fault that a person, a machine or a second process can cause and checks what the package
does about it: a tampered, garbled or foreign cache entry is caught with a warning naming it and recomputed;
a killed sweep leaves no process behind and the next sweep takes over its runs; a full or read-only disk,
an empty environment variable, a duplicated YAML key and a bad notebook parameter give a one-line error
that names the culprit before any training; overflowing data give a clear error instead of silent zeros;
the PID solver finishes on dense joints and its advice, when it does not, works; two sweeps on one cache
never train the same run twice. Trainers are the counting stand-ins of `test_sweep` unless the fault is in
the training processes themselves (`fault_sweep.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignbook import checks
from alignbook.chapters import real_data

ROOT = Path(__file__).resolve().parents[2]


def notebook_cells(stem: str) -> tuple[dict, str]:
    """The defaults of a notebook's parameters cell and the source of the first code cell after it."""
    import jupytext

    cells = [c for c in jupytext.read(ROOT / "notebooks" / f"{stem}.md").cells if c.cell_type == "code"]
    defaults: dict = {}
    exec(cells[0].source, {}, defaults)
    return defaults, cells[1].source


NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.md"))


def bad_values(name: str, default, tmp_path: Path) -> list:
    """Values of the wrong kind for a parameter, as papermill would pass them, plus known traps."""
    if isinstance(default, bool):
        values = ["yes", 2]
    elif isinstance(default, int):
        values = [-1, "many", 2.5]
    elif isinstance(default, float):
        values = [-1.0, float("nan"), "high"]
    elif isinstance(default, list):
        values = ["[0, 1", "[__import__('os').getcwd()]", 7, [], [None]]
    elif name == "workers":  # "auto", or a positive number of processes
        values = ["many", 2.5, -1]
    else:
        values = [42] + (["/no/such/path"] if name.endswith("_path") else [])
    (tmp_path / "a_file").write_text("")
    traps = {"workers": [0], "avmnist_path": [str(tmp_path / "a_file")], "multibench_path": [str(tmp_path)]}
    return values + traps.get(name, [])


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_every_bad_parameter_fails_in_the_first_cell_after_the_parameters(stem, tmp_path):
    defaults, first_cell = notebook_cells(stem)
    exec(first_cell, dict(defaults))  # the defaults pass
    missed = []
    for name, default in defaults.items():
        for bad in bad_values(name, default, tmp_path):
            try:
                exec(first_cell, {**defaults, name: bad})
            except ValueError as error:
                if not str(error).startswith(f"{name}:"):
                    missed.append(f"{name} = {bad!r} -> {error}")
            else:
                missed.append(f"{name} = {bad!r} passed")
    assert missed == [], f"{stem}: " + "; ".join(missed)


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_list_parameters_given_as_text_are_read_as_lists(stem):
    """`papermill -p seeds "[0, 1]"` passes the text '[0, 1]': the first cell reads it back as the list."""
    defaults, first_cell = notebook_cells(stem)
    lists = {name: value for name, value in defaults.items() if isinstance(value, list)}
    namespace = {**defaults, **{name: repr(value) for name, value in lists.items()}}
    exec(first_cell, namespace)
    checked = namespace["p"]  # the chapter's parameters object (checks.NotebookParameters)
    for name, value in lists.items():
        assert json.loads(json.dumps(getattr(checked, name))) == value, name


def test_text_lists_are_parsed_strictly():
    assert checks.check_parameters(seeds="[0, 1, 2, 3, 4]")["seeds"] == [0, 1, 2, 3, 4]
    assert checks.check_parameters(lams="[0.5, 1]", real_seeds="[3]") == {"lams": [0.5, 1], "real_seeds": [3]}
    for text in ("[0, 1", "[1, 2] + [3]", "[__import__('os')]", "0, 1", "[]"):
        with pytest.raises(ValueError, match="^seeds: "):
            checks.check_parameters(seeds=text)
    with pytest.raises(ValueError, match="^real_lams: "):
        checks.check_parameters(real_lams=[0.0, -1.0])
    assert real_data.check_view_pairs("mfeat_pairs", '[["fou", "mor"]]') == [("fou", "mor")]
