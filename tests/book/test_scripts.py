"""The build scripts' own logic: the order notebooks execute in and the timings table's wall time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entry(seconds: float, batch: str, jobs: int, started: float) -> dict:
    return {"profile": "full", "seconds": seconds, "finished": "2026-01-01 00:00 UTC", "machine": {},
            "batch": batch, "jobs": jobs, "started": started, "ended": started + seconds}


def test_longest_notebooks_execute_first_and_new_ones_before_them():
    execute = load("execute_notebooks")
    sources = [Path(f"{name}.ipynb") for name in ("01_a", "02_b", "03_c", "04_d")]
    manifest = {"01_a": {"seconds": 5.0}, "02_b": {"seconds": 50.0}, "04_d": {"seconds": 20.0}}
    assert [p.stem for p in execute.longest_first(sources, manifest)] == ["03_c", "02_b", "04_d", "01_a"]


def test_the_table_gives_the_span_of_the_latest_side_by_side_execution():
    table = load("timings_table")
    manifest = {"01_a": entry(10.0, "2026-01-02T00:00:00Z", 2, 1000.0),
                "02_b": entry(30.0, "2026-01-02T00:00:00Z", 2, 1005.0),
                "03_c": entry(99.0, "2026-01-01T00:00:00Z", 1, 0.0)}  # an older execution: not in the span
    text = table.render(manifest)
    assert "ran 2 notebooks, up to 2 at a time: 35.0 s of wall time" in text and "sum is 139.0 s" in text
    # One notebook at a time: the total is the wall time.
    for name in manifest:
        manifest[name]["jobs"] = 1
    assert "Total: 139.0 s" in table.render(manifest) and "at a time" not in table.render(manifest)
    assert "Total: 1.0 s" in table.render({"01_a": {"profile": "full", "seconds": 1.0, "finished": "x"}})
