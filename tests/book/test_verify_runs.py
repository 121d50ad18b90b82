"""`make verify`: runs retrained from the published tables and configurations alone, compared to the printed
digits."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from alignbook.chapters import publish

ROOT = Path(__file__).resolve().parents[2]


def load_verify():
    spec = importlib.util.spec_from_file_location("verify_runs", ROOT / "scripts" / "verify_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A built site's downloads of one small table of sweep runs: the CSV and its configurations, each in
    its own folder as Sphinx writes them."""
    from alignbook.sweep import run_sweep

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = {"name": "tiny", "dataset": {"kind": "synthetic", "n_samples": 512, "depth": 1},
            "dataset_grid": {"redundancy": [2, 6]}, "lams": [0.0, 1.0], "seeds": [0],
            "train": {"num_epochs": 1, "width": 8, "batch_size": 64, "eval_max_samples": 64}}
    record = publish.table_record(run_sweep(spec, workers=1, progress=False).table, "tiny_runs", "one row")
    downloads = tmp_path / "site" / "_downloads"
    (downloads / "a1").mkdir(parents=True)
    (downloads / "b2").mkdir()
    (downloads / "a1" / "tiny_runs.csv").write_text(record["csv"])
    (downloads / "b2" / "tiny_runs.configs.json").write_text(json.dumps(record["runs"]))
    return tmp_path / "site"


def test_published_runs_are_retrained_from_the_downloads_alone(site, capsys):
    verify = load_verify()
    assert verify.main([str(site), "--runs", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "retraining 3 runs drawn with seed 1 from 1 tables: tiny_runs"
    assert out[-1] == "3 of 3 runs agree to the printed digits"
    assert sum(": agrees (" in line and "same run key" in line for line in out) == 3
    acc = [line.split() for line in out if line.split()[0] == "acc"]
    assert len(acc) == 3 and all(words[-3:] == ["difference", "+0", "+0"] for words in acc)
    assert not any(line.split()[0] in ("redundancy", "n_samples", "data_seed", "time_s") for line in out)
    # a published value changed in its printed digits: that run no longer agrees, and is shown
    csv = next(site.rglob("tiny_runs.csv"))
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("acc")] = "0.123456"
    csv.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    assert verify.main([str(site), "--runs", "4"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "3 of 4 runs agree to the printed digits"
    assert any("published 0.123456" in line and line.endswith("<- differs") for line in out)


def test_the_sample_is_seeded_takes_turns_over_tables_and_never_repeats_a_run():
    import pandas as pd

    verify = load_verify()
    tables = {"a": pd.DataFrame({"key": ["k1", "k1", "k2", "k3"]}), "b": pd.DataFrame({"key": ["k2", "k4"]})}
    first = verify.sample_runs(tables, 3, seed=0)
    assert first == verify.sample_runs(tables, 3, seed=0)
    assert [table for table, _ in first][:2] == ["a", "b"]
    everything = verify.sample_runs(tables, 10, seed=5)
    assert sorted(key for _, key in everything) == ["k1", "k2", "k3", "k4"]


def test_the_advice_chapters_runs_on_the_books_pair_are_rebuilt_and_a_users_own_are_not():
    import pandas as pd

    from alignbook.data.registry import dataset_kinds, unregister_dataset
    from alignbook.data.user import DATASET_KIND

    verify = load_verify()
    spec = {"name": "advise-x", "dataset": {"kind": DATASET_KIND}, "dataset_grid": {"labels": ["all", 140]},
            "data_seed": "seed", "lams": [0.0, 0.5], "seeds": [0, 1]}
    runs = {"specs": {"advise-x": spec}, "configs": {"c": {"num_steps": 5}}, "datasets": {}}

    def rows(dataset: str):
        return pd.DataFrame([{"spec": "advise-x", "config": "c", "dataset": dataset, "lam": "0.5",
                              "seed": "1", "labels": "140", "data_seed": "1"}])

    registered = DATASET_KIND in dataset_kinds()
    try:
        one, data = verify.one_run_spec(rows("mfeat kar-mor"), runs, "v")
        assert data is None and one["lams"] == [0.5] and one["seeds"] == [1]
        assert one["dataset"] == {"kind": DATASET_KIND, "labels": 140} and DATASET_KIND in dataset_kinds()
    finally:
        if not registered:
            unregister_dataset(DATASET_KIND)
    why = verify.one_run_spec(rows("my pairs"), runs, "v")
    assert why == "the data 'my pairs' are a user's own pairs, which the downloads do not hold"
