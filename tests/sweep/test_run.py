"""Sweeps: caching and resuming, data drawn per seed, the measurement stage, the tidy table, the command line.

Most tests replace the trainers and the measurement with instant stand-ins (`run_sweep(..., trainer=...)`,
`FakeTrainers` of conftest.py) and use a tiny registered dataset kind (the `folders` and `trainers` fixtures),
so they run in seconds; the end-to-end tests train real (tiny) models.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
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
from alignbook.sweep import measure as sweep_measure

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_dataset_parameter_fails_before_training(folders, trainers):
    with pytest.raises(ValueError, match=r"^dataset_grid\.redundancy: is not a parameter"):
        run(spec_dict(dataset_grid={"redundancy": [0, 2]}))
    assert trainers.runs == []


class SizeRecorder(FakeTrainers):
    """Records the training and test sizes of each dataset a group trains on."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def fit_many(self, datasets, lams, seeds, config, *, threads):
        self.sizes += sorted({(len(d.train), len(d.test)) for d in datasets})
        return super().fit_many(datasets, lams, seeds, config, threads=threads)


def test_n_train_is_a_dataset_grid_axis(folders):
    trainer = SizeRecorder()
    spec = spec_dict(dataset={"kind": "synthetic", "n_samples": 1024, "redundancy": 4},
                     dataset_grid={"n_train": [40, 200]}, lams=[0.0, 1.0], seeds=[0])
    result = run(spec, trainer=trainer)
    assert trainer.sizes == [(40, 153), (200, 153)]  # 717 / 154 / 153 examples, the same test split
    assert result.table["n_train"].tolist() == [40] * 4 + [200] * 4
    assert result.table["dataset"].str.endswith(("n_train=40", "n_train=200")).all()
    with pytest.raises(ValueError, match="^n_train: is 5000 but the training split holds only 717"):
        run(dict(spec, dataset_grid={"n_train": [40, 5000]}, name="too_many"), trainer=trainer)
    assert trainer.groups == 2  # the bad size stopped the sweep before it trained anything


def test_shipped_configs_are_valid():
    paper = SweepSpec.from_yaml(ROOT / "configs" / "synthetic_paper.yaml")  # chapter 03's study (test below)
    assert len(paper.grid_points()) == 10 and paper.lams[0] == 0.0 and paper.data_seed == "seed"
    smoke = SweepSpec.from_yaml(ROOT / "configs" / "synthetic_smoke.yaml")
    assert len(smoke) <= 12 and smoke.train["num_epochs"] == 2


# ------------------------------------------------------------------------------------------------ caching


def test_second_run_loads_everything_from_cache(folders, trainers):
    first = run(spec_dict())
    assert len(trainers.runs) == 4 * 3 * 2 and trainers.groups == 4 and trainers.measured == 24
    assert trainers.threads == [1] * 4  # one worker trains on one thread
    assert (first.n_cached, first.n_computed) == (0, 24)
    second = run(spec_dict())
    assert len(trainers.runs) == 24 and trainers.measured == 24  # nothing trained or measured again
    assert (second.n_cached, second.n_computed, second.n_measured) == (24, 0, 0)
    assert second.table.equals(first.table)
    assert second.path == folders / "results" / "tiny_sweep.csv"
    assert (folders / "results" / "tiny_sweep.yaml").exists()
    assert first.runs[0].history == second.runs[0].history
    assert first.runs[0].weights1 is None  # weights stay on disk


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


def test_damaged_entries_are_computed_again_with_a_warning(folders, trainers, caplog):
    first = run(spec_dict())
    cache = sweep.RunCache(folders / "cache")
    measurements = sweep.Measurements(folders / "cache")
    truncated, garbled, remeasured = first.table["key"].unique()[:3]
    path = cache.runs.record_path(truncated)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    cache.runs.arrays_path(garbled).write_bytes(b"not a zip file")
    config = TrainConfig(num_epochs=2)
    measured = measurements.entries.record_path(sweep.measurement_key(remeasured, config))
    measured.write_bytes(measured.read_bytes().replace(b"0.3", b"0.4"))
    trainers.runs.clear()
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        second = run(spec_dict())
    # the truncated run and the run with garbled weights are trained again, the edited measurement is redone
    assert len(trainers.runs) == 2 and second.n_computed == 2 and second.n_measured == 1
    assert sum("is unreadable" in r.getMessage() for r in caplog.records) == 3
    assert second.table.equals(first.table)
    trainers.runs.clear()
    assert run(spec_dict()).n_measured == 0 and trainers.runs == []  # the damaged entries were rewritten


def test_an_edit_of_the_measurement_measures_again_and_trains_nothing(folders, trainers, monkeypatch):
    first = run(spec_dict())
    monkeypatch.setattr(sweep_measure, "measurement_code", lambda: "edited metrics")
    second = run(spec_dict())
    assert len(trainers.runs) == 24 and trainers.measured == 48
    assert (second.n_cached, second.n_computed, second.n_measured) == (24, 0, 24)
    assert second.table.equals(first.table)
    third = run(spec_dict(train={"num_epochs": 2, "knn_k": 5}))  # a measurement option: same runs, remeasured
    assert len(trainers.runs) == 24 and third.n_measured == 24
    assert (third.table["key"] == first.table["key"]).all()


def test_measurements_keep_the_metrics_order(folders, trainers):
    first = run(spec_dict(lams=[0.0, 1.0]))
    assert list(first.runs[0].alignment) == ["knn", "cka"]  # the stand-in's order, not alphabetical
    again = run(spec_dict(lams=[0.0, 1.0]))
    assert list(again.runs[0].alignment) == ["knn", "cka"]
    assert list(again.runs[0].alignment_chance)[0] == "knn"
    assert [c for c in again.table.columns if c.startswith("align_")] == ["align_knn", "align_cka"]


def test_interrupted_sweep_resumes_with_only_the_missing_runs(folders):
    interrupted = FakeTrainers(interrupt_at_group=2)
    with pytest.raises(KeyboardInterrupt):
        run(spec_dict(), trainer=interrupted)
    assert interrupted.groups == 2
    resumed = FakeTrainers()
    result = run(spec_dict(), trainer=resumed)
    assert resumed.groups == 2 and len(resumed.runs) == 12
    assert (result.n_cached, result.n_computed) == (12, 12)
    assert not list((folders / "cache").rglob("*.tmp"))


def test_run_keys_change_with_training_inputs_and_code_but_not_with_measurement_options(monkeypatch):
    config = TrainConfig()
    base = sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0)
    assert base == sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0)
    others = [sweep.run_key("synthetic", {"redundancy": 4}, "abc", config, 0.5, 0),
              sweep.run_key("synthetic", {"redundancy": 2}, "abd", config, 0.5, 0),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config.replace(width=99), 0.5, 0),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.6, 0),
              sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 1)]
    for field, value in (("knn_k", 5), ("metric_layer", "best"), ("eval_max_samples", 100)):
        changed = config.replace(**{field: value})
        assert sweep.run_key("synthetic", {"redundancy": 2}, "abc", changed, 0.5, 0) == base
        assert sweep.measurement_key(base, changed) != sweep.measurement_key(base, config)
    monkeypatch.setattr(alignbook, "__version__", "99.0")
    others.append(sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0))
    monkeypatch.undo()
    monkeypatch.setattr(sweep_cache, "training_code", lambda: "edited trainer")
    others.append(sweep.run_key("synthetic", {"redundancy": 2}, "abc", config, 0.5, 0))
    assert len({base, *others}) == len(others) + 1


def test_deterministic_datasets_are_not_rebuilt_when_all_runs_are_cached(folders, trainers):
    builds = []

    def counting(level=0, depth=1, seed=0):
        builds.append(level)
        return tiny_dataset(level, depth, seed)

    registry.register_dataset("counted", counting, deterministic=True)
    try:
        spec = spec_dict(dataset={"kind": "counted"}, lams=[0.0])
        first = run(spec)
        assert len(builds) == 4
        second = run(spec)
        assert len(builds) == 4 and second.n_cached == 8 and second.table.equals(first.table)
        run(dict(spec, lams=[0.0, 1.0]))  # new runs: the datasets are built again
        assert len(builds) == 8 and len(trainers.runs) == 16
    finally:
        registry.unregister_dataset("counted")


def test_unwritable_cache_fails_before_training(folders, trainers, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a file where a folder is needed: unwritable even for root
    with pytest.raises(ValueError) as error:
        run(spec_dict(), cache_dir=blocker / "cache")
    assert "cache_dir" in str(error.value) and str(blocker) in str(error.value)
    assert "ALIGNBOOK_CACHE" in str(error.value)
    assert trainers.runs == []


# ------------------------------------------------------------------------------------------ data per seed


class DrawRecorder(FakeTrainers):
    """Records, per group, the fingerprints of the datasets its runs train on, by run seed."""

    def __init__(self):
        super().__init__()
        self.draws = []

    def fit_many(self, datasets, lams, seeds, config, *, threads):
        self.draws.append({seed: d.fingerprint() for seed, d in zip(seeds, datasets, strict=True)})
        return super().fit_many(datasets, lams, seeds, config, threads=threads)


def test_a_seed_draws_its_own_data_and_the_runs_of_a_point_stay_one_group(folders):
    trainer = DrawRecorder()
    result = run(spec_dict(data_seed="seed", seeds=[0, 1, 2]), trainer=trainer)
    assert trainer.groups == 4  # one group per grid point, whatever the number of data draws
    for draws in trainer.draws:
        assert len(set(draws.values())) == 3  # three seeds, three data draws
    table = result.table
    assert (table["data_seed"] == table["seed"]).all()
    fixed = run(spec_dict(data_seed=7, name="fixed"), trainer=DrawRecorder())
    assert (fixed.table["data_seed"] == 7).all()
    assert set(fixed.table["key"]).isdisjoint(table["key"])  # other data, other runs


def test_the_data_of_a_run_can_be_rebuilt_and_its_representations_recomputed(folders, trainers):
    result = run(spec_dict(data_seed="seed", lams=[1.0]))
    dataset = result.dataset(3)
    assert dataset.fingerprint() == tiny_dataset(0, 3, 1).fingerprint()  # level 0, depth 3, seed 1
    stored = result.weights(3)
    assert stored.weights1["encoder.out.weight"][0, 0] == 1.0


# -------------------------------------------------------------------------------------------------- table


def test_table_has_two_rows_per_run_and_the_documented_columns(folders, trainers):
    result = run(spec_dict())
    table = result.table
    assert len(table) == 2 * len(result.runs) == 2 * 24
    expected = sweep.table_columns(["level", "depth", "data_seed"], ["knn", "cka"], ["knn", "cka"])
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
    assert list(one_run["best_epoch"]) == [1, 0] and list(one_run["steps"]) == [7, 7]
    assert table["hit_cap"].tolist() == (table["lam"] > 0).tolist()
    assert (table["status"] == "ok").all() and (table["config"] == TrainConfig(num_epochs=2).key()).all()
    stored = pd.read_csv(result.path)
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
    with pytest.raises(ValueError, match="^data_seed: 'seed' draws each run's data"):
        run({**spec, "data_seed": "seed"}, data=data)


class Broken(FakeTrainers):
    def fit_many(self, datasets, lams, seeds, config, *, threads):
        raise ValueError("dataset.test.x1: something is wrong")


def test_error_in_fit_many_is_raised_not_retried_one_by_one(folders):
    trainer = Broken()
    with pytest.raises(ValueError, match="something is wrong"):
        run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0, 1.0]), trainer=trainer)
    assert trainer.single == 0


def test_worker_counts():
    assert sweep.resolve_workers(1, 10) == 1 and sweep.resolve_workers("auto", 1) == 1
    assert sweep.resolve_workers("auto", 10, work=1000) == 1  # too little work to repay starting processes
    with pytest.raises(ValueError, match="^workers:"):
        sweep.resolve_workers(0, 10)
    config = TrainConfig(num_epochs=3, batch_size=10)
    assert sweep.run_steps(config, 95) == 27 and sweep.run_steps(config.replace(num_steps=5), 95) == 5


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_bad_spec_exits_2_without_traceback(folders, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("name: bad\nlams: [0.1, -1]\nseeds: [0]\ndataset: {kind: tiny}\n")
    assert cli_main(["sweep", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "lams:" in err and "Traceback" not in err
    assert cli_main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert cli_main(["sweep", str(tmp_path / "bad.yaml"), "--workers", "zero"]) == 2


def test_cli_bench_delegates_its_arguments(monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("alignbook.training.bench")
    fake.main = lambda argv=None: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "alignbook.training.bench", fake)
    assert cli_main(["bench", "--runs", "8", "--quick"]) == 0
    assert calls == [["--runs", "8", "--quick"]]
    assert cli_main(["--version"]) == 0


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
    assert [c for c in first.table.columns if c.startswith("align_")][0] == "align_mutual_knn"
    cached = run_sweep(spec, data, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert cached.n_cached == 2 and cached.table.equals(first.table)


def test_real_tiny_synthetic_sweep_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = {"name": "real_tiny", "dataset": {"kind": "synthetic", "n_samples": 1024},
            "dataset_grid": {"redundancy": [0, 4]}, "lams": [0.0, 1.0], "seeds": [0, 1], "data_seed": "seed",
            "train": {"num_epochs": 2, "eval_max_samples": 200}}
    first = run_sweep(spec, workers=1, progress=False)
    assert len(first.table) == 16 and first.n_computed == 8
    ok = first.table[first.table["status"] == "ok"]
    assert ok["acc"].between(0, 1).all() and ok["align_mutual_knn"].between(0, 1).all()
    n_test = 1024 - round(0.7 * 1024) - round(0.15 * 1024)
    z1, z2 = first.representations(1, rows=200)
    assert z1.shape == (min(n_test, 200), TrainConfig().repr_dim) and z2.shape == z1.shape
    measured = sweep.measure_run(first.dataset(1), first.weights(1))
    assert measured[0] == first.runs[1].alignment  # the measurement recomputes from the stored weights
    second = run_sweep(spec, workers=1, progress=False)
    assert second.n_cached == 8 and second.table.equals(first.table)


@pytest.mark.slow
@pytest.mark.processes
def test_results_and_keys_do_not_depend_on_the_number_of_workers(tmp_path, monkeypatch):
    """A cache filled on one machine serves another bit for bit: 1, 2 and 4 workers split the groups
    differently, yet every run's numbers and key are the same."""
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = {"name": "pool", "dataset": {"kind": "synthetic", "n_samples": 2048},
            "dataset_grid": {"redundancy": [4]}, "lams": [0.0, 0.5, 1.0], "seeds": [0, 1, 2],
            "data_seed": "seed", "train": {"num_steps": 30, "batch_size": 128, "eval_max_samples": 100}}
    tables = [run_sweep(spec, cache_dir=tmp_path / f"w{n}", workers=n, progress=False).table
              for n in (1, 2, 4)]
    columns = [c for c in tables[0].columns if c != "time_s"]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(other[columns], tables[0][columns], check_exact=True)


def test_the_synthetic_grid_is_declared_alike_in_chapters_03_05_and_the_paper_config():
    # chapter 06 reads chapter 03's runs from the cache: a drift between them would silently retrain 720 runs
    import jupytext

    from alignbook.chapters import synthetic_sweep

    def defaults(name: str) -> dict:
        notebook = jupytext.read(ROOT / "notebooks" / f"{name}.md")
        cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
        values: dict = {}
        exec(cell.source, {}, values)
        return values

    keys = ("redundancies", "depths", "lams", "seeds", "n_samples", "batch_size")
    specs = []
    for name in ("03_synthetic_sweep", "06_analysis"):
        values = defaults(name)
        specs.append(synthetic_sweep.synthetic_sweep_spec(*(values[k] for k in keys[:4]),
                                                  **{k: values[k] for k in keys[4:]}))
    specs.append(sweep.SweepSpec.from_yaml(ROOT / "configs" / "synthetic_paper.yaml"))
    for spec in specs[1:]:
        for field in ("dataset", "dataset_grid", "lams", "seeds", "train", "data_seed"):
            assert getattr(spec, field) == getattr(specs[0], field), field


def test_a_sweep_can_be_counted_without_training(folders, trainers):
    assert sweep.count_cached(spec_dict()) == (0, 24)
    run(spec_dict(lams=[0.0, 0.5]))
    assert sweep.count_cached(spec_dict()) == (16, 8) and len(trainers.runs) == 16


def test_the_run_log_lists_every_run_a_sweep_looks_up_and_its_keys_count_the_cached(
        folders, trainers, tmp_path, monkeypatch):
    log = tmp_path / "runs.keys"
    monkeypatch.setenv(sweep.RUN_LOG_VARIABLE, str(log))
    run(spec_dict(lams=[0.0, 0.5]))
    first = log.read_text().split()
    assert len(first) == 16 and len(set(first)) == 16 and sweep.cached_keys(first) == 16
    run(spec_dict())  # 8 of its 24 runs are new: all 24 are logged, the 16 cached among them
    keys = log.read_text().split()[16:]
    assert len(keys) == 24 and set(first) < set(keys) and sweep.cached_keys(keys) == 24
    assert sweep.cached_keys(keys, cache_dir=tmp_path / "elsewhere") == 0
    monkeypatch.setenv(sweep.RUN_LOG_VARIABLE, "")
    run(spec_dict())
    assert len(log.read_text().split()) == 40
