"""Sweeps: spec validation, caching, resuming, the tidy table and the command line.

Most tests replace the trainers with a counting fake (`sweep.run._fit_many`, `sweep.run._fit`) and use a tiny
registered dataset kind (the `folders` and `trainers` fixtures of conftest.py), so they run in seconds; one
end-to-end test trains real (tiny) models.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeTrainers, spec_dict, tiny_dataset
from conftest import run_tiny as run

import alignbook
from alignbook import sweep
from alignbook.cli import main as cli_main
from alignbook.config import TrainConfig
from alignbook.data import registry
from alignbook.sweep import SweepSpec, run_sweep
from alignbook.sweep import cache as sweep_cache
from alignbook.sweep import run as sweep_run

# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"lamz": [0.1]}, "lamz", "not a sweep spec key"),
    ({"lams": "0.1"}, "lams", "expected a list"),
    ({"lams": []}, "lams", "must not be empty"),
    ({"lams": [0.1, -0.5]}, "lams", ">= 0"),
    ({"lams": [0.1, float("nan")]}, "lams", "finite"),
    ({"lams": [0.1, 0.1]}, "lams", "more than once"),
    ({"lams": [True]}, "lams", "expected a number"),
    ({"seeds": [0, 1.5]}, "seeds", "integer"),
    ({"seeds": [0, 2**32]}, "seeds", "0..4294967295"),
    ({"seeds": []}, "seeds", "must not be empty"),
    ({"name": "a/b"}, "name", "file name"),
    ({"dataset": {"kind": "nope"}}, "dataset.kind", "unknown dataset kind"),
    ({"dataset": ["tiny"]}, "dataset", "expected a mapping"),
    ({"dataset_grid": {"level": []}}, "dataset_grid.level", "must not be empty"),
    ({"dataset_grid": {"level": 3}}, "dataset_grid.level", "expected a list"),
    ({"dataset_grid": {"level": [1, 1]}}, "dataset_grid.level", "more than once"),
    ({"train": {"num_epoch": 3}}, "num_epoch", "not a training option"),
    ({"train": {"lr": -1.0}}, "lr", "> 0"),
    ({"keep_representations": "yes"}, "keep_representations", "true or false"),
], ids=lambda v: str(v)[:30])
def test_spec_errors_name_the_field(folders, changes, field, words):
    with pytest.raises(ValueError) as error:
        SweepSpec.from_dict(spec_dict(**changes))
    assert str(error.value).startswith(f"{field}:")
    assert words in str(error.value)


def test_unknown_dataset_parameter_fails_before_training(folders, trainers):
    with pytest.raises(ValueError, match=r"^dataset_grid\.redundancy: is not a parameter"):
        run(spec_dict(dataset_grid={"redundancy": [0, 2]}))
    assert trainers.runs == []


def test_n_train_is_a_dataset_grid_axis(folders, trainers, monkeypatch):
    sizes = []
    counting = trainers.fit_many

    def fit_many(dataset, lams, seeds, config, **options):
        sizes.append((len(dataset.train), len(dataset.test)))
        return counting(dataset, lams, seeds, config, **options)

    monkeypatch.setattr(sweep_run, "_fit_many", fit_many)
    spec = spec_dict(dataset={"kind": "synthetic", "n_samples": 1024, "redundancy": 4},
                     dataset_grid={"n_train": [40, 200]}, lams=[0.0, 1.0], seeds=[0])
    result = run(spec)
    assert sizes == [(40, 153), (200, 153)]  # 717 / 154 / 153 examples, the same test split
    assert result.table["n_train"].tolist() == [40] * 4 + [200] * 4
    assert result.table["dataset"].str.endswith(("n_train=40", "n_train=200")).all()
    with pytest.raises(ValueError, match="^n_train: is 5000 but the training split holds only 717"):
        run(dict(spec, dataset_grid={"n_train": [40, 5000]}, name="too_many"))
    assert trainers.groups == 2  # the bad size stopped the sweep before it trained anything


def test_spec_yaml_round_trip_expands_the_grid(folders, tmp_path):
    text = ("name: demo\ndataset: {kind: tiny}\ndataset_grid: {level: [0, 2], depth: [1, 3]}\n"
            "lams: [0, 0.5, 1]\nseeds: [0, 1, 2]\ntrain: {lr: 1e-3}\n")
    (tmp_path / "demo.yaml").write_text(text)
    spec = SweepSpec.from_yaml(tmp_path / "demo.yaml")
    assert spec.train == {"lr": 0.001} and spec.lams == (0.0, 0.5, 1.0)
    assert SweepSpec.from_dict(spec.to_dict()) == spec
    assert len(spec) == len(spec.expand()) == 4 * 3 * 3
    assert spec.grid_points()[1] == {"level": 0, "depth": 3}


def test_shipped_configs_are_valid():
    from alignbook.paths import REPO_ROOT

    paper = SweepSpec.from_yaml(REPO_ROOT / "configs" / "synthetic_paper.yaml")
    assert len(paper.grid_points()) == 10 and len(paper.lams) == 24 and paper.seeds == (0, 1, 2)
    assert paper.lams[:3] == (0.0, 0.1, 0.2) and paper.lams[-4:] == (2.0, 2.5, 3.0, 4.0)
    smoke = SweepSpec.from_yaml(REPO_ROOT / "configs" / "synthetic_smoke.yaml")
    assert len(smoke) <= 12 and smoke.train["num_epochs"] == 2


# ------------------------------------------------------------------------------------------------ caching


def test_second_run_loads_everything_from_cache(folders, trainers):
    first = run(spec_dict())
    assert len(trainers.runs) == 4 * 3 * 2 and trainers.groups == 4
    assert trainers.threads == [1] * 4  # one worker trains on one thread
    assert (first.n_cached, first.n_computed) == (0, 24)
    second = run(spec_dict())
    assert len(trainers.runs) == 24  # nothing trained again
    assert (second.n_cached, second.n_computed) == (24, 0)
    assert second.table.equals(first.table)
    assert second.path == folders / "results" / "tiny_sweep.csv"
    assert (folders / "results" / "tiny_sweep.yaml").exists()
    assert first.runs[0].history == second.runs[0].history


def test_adding_a_lam_trains_only_the_new_runs(folders, trainers):
    run(spec_dict())
    trainers.runs.clear()
    result = run(spec_dict(lams=[0.0, 0.5, 1.0, 2.0]))
    assert sorted(trainers.runs) == sorted([(2.0, 0), (2.0, 1)] * 4)
    assert (result.n_cached, result.n_computed) == (24, 8)
    trainers.runs.clear()
    run(spec_dict(lams=[0.0, 0.5, 1.0, 2.0], seeds=[0, 1, 5]))
    assert sorted(trainers.runs) == sorted([(lam, 5) for lam in (0.0, 0.5, 1.0, 2.0)] * 4)


def test_force_retrains_everything(folders, trainers):
    run(spec_dict(lams=[0.0]))
    run(spec_dict(lams=[0.0]), force=True)
    assert len(trainers.runs) == 2 * 4 * 2


def test_corrupted_cache_entries_are_recomputed_with_a_warning(folders, trainers, caplog):
    first = run(spec_dict(keep_representations=True))
    cache = sweep.RunCache(folders / "cache")
    truncated, garbled, foreign = first.table["key"].unique()[:3]
    text = cache.json_path(truncated).read_text()
    cache.json_path(truncated).write_text(text[: len(text) // 2])
    cache.npz_path(garbled).write_bytes(b"not a zip file")
    cache.json_path(foreign).write_text(json.dumps({"format": 1, "key": "someone else"}))
    trainers.runs.clear()
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        second = run(spec_dict(keep_representations=True))
    assert len(trainers.runs) == 3 and second.n_computed == 3
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 3
    assert second.table.equals(first.table)
    assert all(np.array_equal(a.z1, b.z1) for a, b in zip(first.runs, second.runs, strict=True))
    trainers.runs.clear()
    run(spec_dict(keep_representations=True))  # the damaged entries were rewritten
    assert trainers.runs == []


def test_interrupted_sweep_resumes_with_only_the_missing_runs(folders, monkeypatch):
    interrupted = FakeTrainers(interrupt_at_group=2)
    monkeypatch.setattr(sweep_run, "_fit_many", interrupted.fit_many)
    with pytest.raises(KeyboardInterrupt):
        run(spec_dict())
    assert interrupted.groups == 2
    resumed = FakeTrainers()
    monkeypatch.setattr(sweep_run, "_fit_many", resumed.fit_many)
    result = run(spec_dict())
    assert resumed.groups == 2 and len(resumed.runs) == 12
    assert (result.n_cached, result.n_computed) == (12, 12)
    assert not list((folders / "cache").rglob("*.tmp"))


def test_cache_key_changes_with_version_source_and_inputs(monkeypatch):
    import alignbook

    config = TrainConfig()
    base = sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0, False)
    assert base == sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0, False)
    others = [sweep.run_key("synthetic", {"redundancy": 4}, "abc", config, 0.5, 0, False),
              sweep.run_key("synthetic", {"redundancy": 2}, "abd", config, 0.5, 0, False),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config.replace(width=99), 0.5, 0, False),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.6, 0, False),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 1, False),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0, True)]
    monkeypatch.setattr(alignbook, "__version__", "99.0")
    others.append(sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0, False))
    monkeypatch.undo()
    monkeypatch.setattr(sweep_cache, "package_source_hash", lambda: "edited")
    others.append(sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0, False))
    assert len({base, *others}) == len(others) + 1


def test_deterministic_datasets_are_not_rebuilt_when_all_runs_are_cached(folders, trainers, monkeypatch):
    builds = []

    def counting(level=0, depth=1, seed=0):
        builds.append(level)
        return tiny_dataset(level, depth, seed)

    monkeypatch.setitem(registry._BUILDERS, "tiny", registry._Builder(counting, deterministic=True))
    first = run(spec_dict(lams=[0.0]))
    assert len(builds) == 4
    second = run(spec_dict(lams=[0.0]))
    assert len(builds) == 4 and second.n_cached == 8 and second.table.equals(first.table)
    run(spec_dict(lams=[0.0, 1.0]))  # new runs: the datasets are built again
    assert len(builds) == 8 and len(trainers.runs) == 16


def test_version_change_retrains(folders, trainers, monkeypatch):
    import alignbook

    run(spec_dict(lams=[0.0]))
    monkeypatch.setattr(alignbook, "__version__", "99.0")
    run(spec_dict(lams=[0.0]))
    assert len(trainers.runs) == 2 * 4 * 2


def test_unwritable_cache_fails_before_training(folders, trainers, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a file where a folder is needed: unwritable even for root
    with pytest.raises(ValueError) as error:
        run(spec_dict(), cache_dir=blocker / "cache")
    assert "cache_dir" in str(error.value) and str(blocker) in str(error.value)
    assert "ALIGNBOOK_CACHE" in str(error.value)
    assert trainers.runs == []


# -------------------------------------------------------------------------------------------------- table


def test_table_has_two_rows_per_run_and_the_documented_columns(folders, trainers):
    result = run(spec_dict())
    table = result.table
    assert len(table) == 2 * len(result.runs) == 2 * 24
    expected = sweep.table_columns(["level", "depth", "data_seed"], ["cka", "knn"], ["cka", "knn"])
    assert list(table.columns) == expected
    assert expected[:12] == ["spec", "dataset_kind", "dataset", "level", "depth", "data_seed", "lam", "seed",
                             "encoder", "modality", "acc", "loss"]
    assert (table["data_seed"] == 0).all()
    assert set(table["encoder"]) == {1, 2} and set(table["modality"]) == {"a", "b"}
    one_run = table[table["run"] == 5]
    assert list(one_run["encoder"]) == [1, 2]
    assert one_run["align_cka"].nunique() == 1 and one_run["key"].nunique() == 1
    run_5 = result.runs[5]
    assert list(one_run["acc"]) == [run_5.acc1, run_5.acc2]
    assert list(one_run["best_epoch"]) == [1, 0]
    assert (table["status"] == "ok").all() and (table["config"] == TrainConfig(num_epochs=2).key()).all()
    stored = __import__("pandas").read_csv(result.path)
    assert list(stored.columns) == expected and len(stored) == 48


def test_user_datasets_and_one_by_one_fallback_logged_once(folders, trainers, caplog):
    data = {"first": tiny_dataset(1), "second": tiny_dataset(2)}
    spec = {"name": "mine", "lams": [0.0, 1.0], "seeds": [0], "train": {"encoder": "transformer"}}
    with caplog.at_level(logging.INFO, logger="alignbook"):
        result = run(spec, data=data)
    assert trainers.single == 4 and trainers.groups == 0 and trainers.threads == [1] * 4
    assert sum("one at a time" in r.getMessage() for r in caplog.records) == 1
    assert list(result.table["dataset"].unique()) == ["first", "second"]
    assert (result.table["dataset_kind"] == "custom").all()
    again = run(spec, data={"first": tiny_dataset(1), "second": tiny_dataset(3)})  # second's data changed
    assert trainers.single == 6 and again.n_cached == 2
    with pytest.raises(ValueError, match="^data:"):
        run(spec_dict(), data=data)


def test_error_in_fit_many_is_raised_not_retried_one_by_one(folders, trainers, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("dataset.test.x1: something is wrong")

    monkeypatch.setattr(sweep_run, "_fit_many", broken)
    with pytest.raises(ValueError, match="something is wrong"):
        run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0, 1.0]))
    assert trainers.single == 0


def test_single_dataset_is_split_so_every_worker_has_a_group():
    task = sweep_run._GroupTask("d", tiny_dataset(), TrainConfig(), [(0.1 * i, 0, f"k{i}") for i in range(5)],
                                {}, False, None, True)
    halves = sweep_run._split_for_workers([task], 2)
    assert [len(t.runs) for t in halves] == [2, 3]
    assert [r for t in halves for r in t.runs] == task.runs
    assert sweep_run._split_for_workers([task], 1) == [task]
    assert sweep.resolve_workers(1, 10) == 1 and sweep.resolve_workers("auto", 1) == 1
    assert sweep.resolve_workers("auto", 10, work=1000) == 1  # too little work to repay starting processes
    with pytest.raises(ValueError, match="^workers:"):
        sweep.resolve_workers(0, 10)


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_bad_spec_exits_2_without_traceback(folders, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("name: bad\nlams: [0.1, -1]\nseeds: [0]\ndataset: {kind: tiny}\n")
    assert cli_main(["sweep", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "lams:" in err and "Traceback" not in err
    assert cli_main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert cli_main(["sweep", str(tmp_path / "bad.yaml"), "--workers", "zero"]) == 2


def test_cli_runs_a_sweep_and_reports_version(folders, trainers, tmp_path, capsys):
    import yaml

    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(spec_dict(lams=[0.0, 1.0])))
    assert cli_main(["sweep", str(tmp_path / "ok.yaml"), "--workers", "1", "--quiet"]) == 0
    assert "16 runs (0 from cache, 16 trained, 0 failed)" in capsys.readouterr().out
    assert cli_main(["sweep", str(tmp_path / "ok.yaml"), "--workers", "1", "--quiet",
                     "--cache", str(tmp_path / "other")]) == 0
    assert len(trainers.runs) == 32
    assert cli_main(["--version"]) == 0
    assert f"alignbook {alignbook.__version__}" in capsys.readouterr().out


def test_cli_bench_delegates_its_arguments(monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("alignbook.training.bench")
    fake.main = lambda argv=None: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "alignbook.training.bench", fake)
    assert cli_main(["bench", "--runs", "8", "--quick"]) == 0
    assert calls == [["--runs", "8", "--quick"]]


# ---------------------------------------------------------------------------------------------- end to end

def test_real_user_data_sweep_end_to_end(tmp_path, monkeypatch):
    from alignbook.data import from_arrays

    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(600, 3))
    y = (shared[:, 0] > 0).astype(int)
    data = from_arrays(np.c_[shared, rng.normal(size=(600, 2))], shared @ rng.normal(size=(3, 4)), y,
                       name="toy")
    spec = {"name": "real_toy", "lams": [0.0, 1.0], "seeds": [0],
            "train": {"num_epochs": 2, "batch_size": 64, "eval_max_samples": 90}}
    first = run_sweep(spec, data, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert len(first.table) == 4 and first.n_computed == 2
    assert set(first.table["status"]) == {"ok"} and first.table["acc"].between(0, 1).all()
    assert first.table["modality"].tolist()[:2] == ["x1", "x2"]
    assert any(c.startswith("align_") for c in first.table.columns)
    cached = run_sweep(spec, data, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert cached.n_cached == 2 and cached.table.equals(first.table)


def test_real_tiny_synthetic_sweep_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = {"name": "real_tiny", "dataset": {"kind": "synthetic", "n_samples": 1024},
            "dataset_grid": {"redundancy": [0, 4]}, "lams": [0.0, 1.0], "seeds": [0],
            "train": {"num_epochs": 2, "eval_max_samples": 200}, "keep_representations": True}
    first = run_sweep(spec, workers=1, progress=False)
    assert len(first.table) == 8 and first.n_computed == 4
    assert set(first.table["status"]) <= {"ok", "failed"}
    n_test = 1024 - round(0.7 * 1024) - round(0.15 * 1024)
    assert first.runs[0].z1.shape == (min(n_test, 200), TrainConfig().repr_dim)
    ok = first.table[first.table["status"] == "ok"]
    assert ok["acc"].between(0, 1).all() and not math.isnan(ok["acc"].iloc[0])
    second = run_sweep(spec, workers=1, progress=False)
    assert second.n_cached == 4 and second.table.equals(first.table)
    assert all(np.array_equal(a.z1, b.z1) for a, b in zip(first.runs, second.runs, strict=True))


@pytest.mark.slow
def test_two_worker_processes_match_one(tmp_path, monkeypatch):
    from alignbook.data import from_arrays

    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4))
    data = {name: from_arrays(x + shift, np.tanh(x) - shift, (x[:, 0] > 0).astype(int), name=name)
            for name, shift in (("a", 0.0), ("b", 1.0))}
    spec = {"name": "pool", "lams": [0.0, 1.0], "seeds": [0], "train": {"num_epochs": 1, "batch_size": 64}}
    serial = run_sweep(spec, data, cache_dir=tmp_path / "one", workers=1, progress=False)
    parallel = run_sweep(spec, data, cache_dir=tmp_path / "two", workers=2, progress=False)
    columns = [c for c in serial.table.columns if c != "time_s"]
    assert parallel.table[columns].equals(serial.table[columns])
    assert len(list((tmp_path / "two").rglob("*.json"))) == 4  # written by the workers


def test_registered_dataset_kind_is_built_and_validated(folders, trainers, monkeypatch):
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))  # leave the registry as it was
    sweep.register_dataset("mine", lambda level=0, seed=0: tiny_dataset(level, 1, seed))
    result = run(spec_dict(name="mine_sweep", dataset={"kind": "mine"}, dataset_grid={"level": [0, 1]},
                           lams=[0.0, 1.0], seeds=[0]))
    assert result.n_computed == 4 and sorted(result.table["level"].unique()) == [0, 1]
    with pytest.raises(ValueError, match="depth"):
        run(spec_dict(dataset={"kind": "mine"}, dataset_grid={"depth": [1]}))


def test_run_keys_cover_the_code_runs_go_through():
    import alignbook

    root = Path(alignbook.__file__).resolve().parent
    hashed = {path.relative_to(root).as_posix() for path in sweep.run_sources()}
    every = {path.relative_to(root).as_posix() for path in root.rglob("*.py")}
    assert hashed == every - sweep.NOT_IN_RUN_KEYS
    assert sweep.NOT_IN_RUN_KEYS <= every  # no stale names: each excluded module exists
    for module in ("training/single.py", "training/vectorized.py", "training/common.py",
                   "training/kernels.py", "training/seeding.py", "models/branch.py", "models/alignment.py",
                   "metrics.py",
                   "data/synthetic.py", "data/container.py", "data/loaders.py", "data/registry.py",
                   "sweep/run.py", "sweep/cache.py", "config.py"):
        assert module in hashed


ROOT = Path(__file__).resolve().parents[2]


def _notebook_defaults(name: str) -> dict:
    """The values of a notebook's `parameters` cell."""
    import jupytext

    notebook = jupytext.read(ROOT / "notebooks" / f"{name}.md")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)
    return values


def test_the_synthetic_grid_is_declared_alike_in_chapters_03_05_and_the_paper_config():
    # chapter 05 reads chapter 03's runs from the cache: a drift between them would silently retrain 720 runs
    from alignbook.chapters import studies

    keys = ("redundancies", "depths", "lams", "seeds", "n_samples", "num_epochs", "batch_size")
    specs = []
    for name in ("03_synthetic_sweep", "06_analysis"):
        values = _notebook_defaults(name)
        specs.append(studies.synthetic_sweep_spec(*(values[k] for k in keys[:4]),
                                                  **{k: values[k] for k in keys[4:]}))
    specs.append(sweep.SweepSpec.from_yaml(ROOT / "configs" / "synthetic_paper.yaml"))
    for spec in specs[1:]:
        for field in ("dataset", "dataset_grid", "lams", "seeds", "train", "data_seed"):
            assert getattr(spec, field) == getattr(specs[0], field), field
