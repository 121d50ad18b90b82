"""The build scripts' own logic: the notebook runner (its output folder, manifest, order, share of the cores
and estimate of the wait) and the timings table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------------------------------------------------
# The notebook runner: its output folder, its manifest, the cores it shares out and the wait it announces


def write_notebook(path: Path, parameters: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), cell, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class InlinePool:
    """Stands in for the process pool: runs each task in this process when it is submitted."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, *args):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(function(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


@pytest.fixture
def runner(monkeypatch):
    """The runner with its pool inline and `execute` recording what each notebook was given; a notebook
    whose parameters hold `fail = True` raises instead of executing."""
    execute = load("execute_notebooks")
    given = {}

    def fake_execute(source, target, parameters, kernel, log):
        given[source.stem] = parameters
        log.parent.mkdir(exist_ok=True)
        log.write_text("".join(f"{n:064x}\n" for n in (1, 2, 1)))  # what its sweeps would log
        if "fail = True" in source.read_text():
            raise RuntimeError("a cell raised\nsecond line")
        Path(target).write_text(source.read_text())
        return 100.0, 160.0

    monkeypatch.setattr(execute, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(execute, "execute", fake_execute)
    monkeypatch.setattr(execute, "default_kernel", lambda: "python3")
    monkeypatch.setattr(execute, "collect_into", lambda out: "collected")
    return execute, given


def test_the_runner_refuses_to_write_among_the_sources_before_running_anything(runner, tmp_path):
    execute, given = runner
    for out in (execute.NOTEBOOKS, execute.NOTEBOOKS / "executed"):
        with pytest.raises(SystemExit, match=r"lies inside .*notebooks, the notebooks' sources"):
            execute.main(["--out", str(out)])
    source = write_notebook(tmp_path / "01_a.ipynb", "workers = 1")
    with pytest.raises(SystemExit, match="holds the notebooks being executed"):
        execute.main(["--out", str(tmp_path), str(source)])
    assert given == {} and not (tmp_path / "manifest.json").exists()


def test_the_runner_shares_out_the_cores_and_passes_the_cluster(runner, tmp_path, monkeypatch):
    execute, given = runner
    sources = [write_notebook(tmp_path / "src" / "01_a.ipynb", 'workers = "auto"\nbackend = "local"'),
               write_notebook(tmp_path / "src" / "02_b.ipynb", "n = 1"),
               write_notebook(tmp_path / "src" / "03_c.ipynb", "workers = 1")]
    monkeypatch.setenv("RAY_ADDRESS", "elsewhere:1")
    out = tmp_path / "out"
    assert execute.main(["--out", str(out), "--cores", "8", "--jobs", "2", *map(str, sources)]) == 0
    assert given == {"01_a": {"workers": 4}, "02_b": {}, "03_c": {"workers": 4}}
    assert "RAY_ADDRESS" not in execute.os.environ  # only a build that asks is sent to a cluster
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["01_a"]["parameters"] == {} and manifest["01_a"]["resources"] == {"workers": 4}
    assert execute.main(["--out", str(out), "--cores", "8", *map(str, sources)]) == 0
    assert len(given) == 3  # nothing changed: nothing executed, whatever the share of cores
    given.clear()
    assert execute.main(["--out", str(out), "--cores", "3", "--jobs", "2", "--force", "--ray-address",
                         "head:6379", *map(str, sources)]) == 0
    # three cores in two places: the notebook started first (the longest) gets two
    assert given["01_a"] == {"workers": 2, "backend": "ray"} and given["02_b"] == {}
    assert execute.os.environ["RAY_ADDRESS"] == "head:6379"


def test_resources_never_exceed_the_share_of_the_cores(runner):
    execute, _ = runner
    declared = {"workers": {}, "backend": {}}
    assert execute.resources(declared, {}, 4, None) == {"workers": 4}
    assert execute.resources(declared, {"workers": 2}, 4, None) == {"workers": 2}
    assert execute.resources(declared, {"workers": 16}, 4, None) == {"workers": 4}
    assert execute.resources(declared, {"workers": "auto"}, 4, "h:1") == {"workers": 4, "backend": "ray"}
    assert execute.resources({}, {"workers": 2}, 4, "h:1") == {}
    assert [execute.notebooks_at_a_time(cores, 6) for cores in (1, 2, 4, 64)] == [1, 2, 2, 2]
    even = {"a": 10.0, "b": 10.0, "c": 10.0}
    assert [execute.notebooks_at_a_time(cores, 6, even) for cores in (1, 2, 64)] == [1, 2, 3]
    assert execute.notebooks_at_a_time(64, 1, even) == 1
    # this book from an empty cache: the regime map is more than half the work, so one at a time with every
    # core; with every run cached the notebooks' analyses are alike, so as many at a time as cores
    reference = execute.load_reference()
    names = sorted(reference["notebooks"])
    cold = execute.estimated_seconds(reference, names, 2)
    warm = execute.estimated_seconds(reference, names, 2, {name: (1, 0) for name in names})
    assert execute.notebooks_at_a_time(2, len(names), cold) == 1
    assert execute.notebooks_at_a_time(2, len(names), warm) == 2
    assert execute.shares(3, 2) == [2, 1] and execute.shares(8, 3) == [3, 3, 2]
    assert execute.shares(2, 2) == [1, 1]


def test_a_failure_is_summed_up_before_the_collection_fails_and_files_not_written_survive(
        runner, tmp_path, monkeypatch, capsys):
    execute, _ = runner
    sources = [write_notebook(tmp_path / "src" / "01_a.ipynb", "n = 1"),
               write_notebook(tmp_path / "src" / "02_b.ipynb", "fail = True")]
    out = tmp_path / "out"
    out.mkdir()
    (out / "09_mine.ipynb").write_text("a user's own notebook")

    def broken(folder):
        raise ValueError("01_a and 02_b both offer runs.csv")

    monkeypatch.setattr(execute, "collect_into", broken)
    assert execute.main(["--out", str(out), "--jobs", "1", *map(str, sources)]) == 1
    err = capsys.readouterr().err
    assert err.index("failed: 02_b") < err.index("collection failed: 01_a and 02_b both offer runs.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["01_a"]["seconds"] == 60.0
    assert manifest["02_b"]["failed"] and "seconds" not in manifest["02_b"]
    # the executed copies this runner wrote of notebooks that are gone are removed; nothing else is
    (out / "02_b.ipynb").write_text("the failed copy papermill keeps")
    assert execute.remove_stale(out, manifest, {"01_a"}) == ["02_b"]
    assert sorted(p.name for p in out.iterdir()) == ["01_a.ipynb", "09_mine.ipynb", "manifest.json", "runs"]
    assert [p.name for p in (out / "runs").iterdir()] == ["01_a.json"]


def test_the_manifest_is_written_atomically_and_an_unreadable_one_is_absent(runner, tmp_path, capsys):
    execute, _ = runner
    path = tmp_path / "manifest.json"
    execute.write_manifest(path, {"01_a": {"seconds": 1.0}})
    with pytest.raises(TypeError):
        execute.write_manifest(path, {"01_a": {"seconds": object()}})
    assert json.loads(path.read_text()) == {"01_a": {"seconds": 1.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary file left
    for text in ('{"01_a": {"seconds": 1', "[1, 2]", '{"01_a": 3}', "\udcff"):
        path.write_text(text, errors="surrogateescape")
        assert execute.read_manifest(path) == {}
        assert capsys.readouterr().out.count("\n") == 1
    assert execute.read_manifest(tmp_path / "none.json") == {}


def test_the_wait_is_estimated_from_the_reference_timings_and_the_cores(runner):
    execute, _ = runner
    reference = {"notebooks": {"01_a": 100.0, "02_b": 300.0}, "wall_seconds": 300.0, "cores": 2}
    # 600 core-seconds, a quarter of them 01_a's, spread over 4 cores
    estimates = {"01_a": 37.5, "02_b": 112.5}
    assert execute.estimated_seconds(reference, ["01_a", "02_b", "03_new"], 4) == estimates
    # with its runs counted, a notebook costs its warm time plus the cold time's excess for the runs to train
    warm = {**reference, "warm": {"01_a": 20.0, "02_b": 60.0}}
    assert execute.estimated_seconds(warm, ["01_a", "02_b"], 4, {"01_a": (3, 1), "02_b": None}) == {
        "01_a": 7.5 + (37.5 - 7.5) / 4, "02_b": 112.5}
    assert execute.counted(["01_a", "02_b"], [(3, 1), None]) == ("02_b counted as executing from an empty "
                                                               "run cache")
    assert execute.counted(["01_a"], [(3, 1)]) == "only the runs to train counted as training"
    now = [0.0]
    progress = execute.Progress(["02_b", "01_a"], estimates, clock=lambda: now[0])
    assert progress.started("02_b", "x") == "[0 min 00 s so far, about 2 min 30 s left] 02_b: started x"
    now[0] = 100.0
    assert progress.ended("02_b", "done") == ("[1 min 40 s so far, about 0 min 38 s left] 02_b: done in "
                                              "1 min 40 s")
    lines = execute.opening(2, 1, "full", reference, estimates, ["02_b", "01_a"], 4, 1, [None, None])
    assert lines[0] == "2 notebooks to execute (1 up to date), profile full, 1 at a time on 4 cores"
    assert lines[1].startswith("estimated time: about 2 min 30 s, from the reference build (5 min 00 s on 2 "
                               "cores) scaled to 4 cores")
    assert execute.opening(1, 0, "smoke", None, None, ["01_a"], 2, 1, [(3, 4)])[1:] == [
        "runs: 3 cached, 4 to train (counted for 1 of 1 notebooks)",
        "estimated time: unknown (no reference timings)"]
    committed = execute.load_reference()
    chapters = {p.stem for p in execute.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert committed["cores"] == 2 and set(committed["notebooks"]) == chapters


def test_reference_timings_are_written_as_json_beside_the_table(tmp_path):
    table = load("timings_table")
    manifest = {"01_a": {**entry(10.0, "b", 2, 1000.0), "machine": {"cores": 2}},
                "02_b": {**entry(30.0, "b", 2, 1005.0), "machine": {"cores": 2}},
                "03_c": {"failed": True, "fingerprint": None}}
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps(manifest))
    assert table.main([str(source), str(tmp_path / "reference.md"), "--reference"]) == 0
    assert json.loads((tmp_path / "reference.json").read_text()) == {
        "notebooks": {"01_a": 10.0, "02_b": 30.0}, "wall_seconds": 35.0, "cores": 2, "jobs": 2, "runs": {}}
    assert "03_c" not in (tmp_path / "reference.md").read_text()
    manifest["01_a"]["seconds"] = 2.0  # executed again, every run cached
    source.write_text(json.dumps(manifest))
    assert table.main([str(source), str(tmp_path / "reference_warm.md"), "--reference", "--warm"]) == 0
    timings = json.loads((tmp_path / "reference.json").read_text())
    assert timings["warm"] == {"01_a": 2.0, "02_b": 30.0} and timings["notebooks"]["01_a"] == 10.0


def test_the_runs_to_train_are_counted_from_the_keys_of_the_last_execution(runner, tmp_path, monkeypatch):
    from alignbook.sweep import RunCache, training_code

    execute, _ = runner
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(cache))
    source, out = write_notebook(tmp_path / "src" / "01_a.ipynb", "n = 1"), tmp_path / "out"
    reference = {"runs": {"01_a": 7}}
    # nothing recorded, an empty cache: the reference build's runs, all to train (for the full profile only)
    assert execute.cached_runs(out, "01_a", {}, reference, "full") == (0, 7)
    assert execute.cached_runs(out, "01_a", {}, reference, "smoke") is None
    assert execute.main(["--out", str(out), str(source)]) == 0
    record = json.loads((out / "runs" / "01_a.json").read_text())
    assert record == {"parameters": {}, "training_code": training_code(), "keys": [f"{1:064x}", f"{2:064x}"]}
    assert json.loads((out / "manifest.json").read_text())["01_a"]["runs"] == 2
    assert not (out / "runs" / "01_a.keys").exists()
    assert execute.cached_runs(out, "01_a", {"workers": 3}, None, "full") == (0, 2)  # resources do not count
    entry = RunCache(cache).runs.record_path(f"{2:064x}")
    entry.parent.mkdir(parents=True)
    entry.write_text("{}")
    assert execute.cached_runs(out, "01_a", {}, reference, "full") == (1, 1)
    assert execute.cached_runs(out, "01_a", {"n": 2}, reference, "full") is None  # other parameters, a cache
    (out / "runs" / "01_a.json").write_text(json.dumps({**record, "training_code": "old"}))
    assert execute.cached_runs(out, "01_a", {}, None, "full") == (0, 2)  # other trainers: new keys
    (out / "runs" / "01_a.json").write_text(json.dumps({**record, "keys": ["../x"]}))
    assert execute.cached_runs(out, "01_a", {}, None, "full") is None


def test_the_cross_processor_comparison_counts_identical_runs_and_sets_differences_against_the_spread():
    compare = load("cross_processor").compare

    def run(lam, seed, acc, digest="d"):
        return {"lam": lam, "seed": seed, "acc1": acc, "representations": digest}

    native = {"runs": {"mlp": [run(0.0, 0, 0.5), run(0.0, 1, 0.7), run(1.0, 0, 0.6), run(1.0, 1, 0.6)]}}
    capped = {"runs": {"mlp": [run(0.0, 0, 0.5), run(0.0, 1, 0.7), run(1.0, 0, 0.6, "e"),
                               run(1.0, 1, 0.6001)]}}
    [row] = compare(native, capped)
    assert (row["runs"], row["identical"], row["same_representations"]) == (4, 2, 3)
    assert row["differences"]["acc1"] == pytest.approx(1e-4)
    # seed-to-seed standard deviation: 0.2 / sqrt(2) at lam = 0, 0 at lam = 1, averaged over lam
    assert row["spread"]["acc1"] == pytest.approx(0.2 / 2 ** 0.5 / 2)


def test_a_lost_cluster_stops_the_build_naming_its_address():
    runner = load("execute_notebooks")

    class CellError(Exception):  # papermill's error of a failed cell: ename and evalue
        ename = "ConnectionError"
        evalue = "the Ray cluster at 10.0.0.5:6379 stopped answering: its head 10.0.0.5:6379 has been ..."

    assert runner.cluster_lost(CellError(), "10.0.0.5:6379")
    assert not runner.cluster_lost(CellError(), None)
    assert not runner.cluster_lost(ValueError("x"), "10.0.0.5:6379")
