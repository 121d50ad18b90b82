"""Shared fixtures: sweep stand-ins (tests of sweeps and of faults), and for the book tests smoke-executed
notebooks, a strictly built site, a headless browser.

The expensive fixtures are session-scoped and only built when a test marked `book` asks for them.
Everything they write goes to pytest's temporary folder, except the screenshots, which are kept in
`_build/screenshots/` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit, registry
from alignbook.sweep import Trainer, run_sweep
from alignbook.training.results import FitResult

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SMOKE = ROOT / "configs" / "smoke.yaml"
MATHJAX = ROOT / "book" / "_static" / "mathjax" / "tex-svg-full.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# ---------------------------------------------------------------------------------------- sweep stand-ins


def change_one_byte(data: bytes, rng: np.random.Generator) -> bytes:
    """`data` with one byte, chosen by `rng`, set to another value (tampering tests)."""
    changed = bytearray(data)
    position = int(rng.integers(len(changed)))
    changed[position] = (changed[position] + int(rng.integers(1, 256))) % 256
    return bytes(changed)


def tiny_dataset(level: int = 0, depth: int = 1, seed: int = 0) -> PairedDataset:
    rng = np.random.default_rng([level, depth, seed])
    splits = []
    for n in (40, 10, 10):
        y = np.arange(n) % 2
        splits.append(PairedSplit(rng.normal(size=(n, 3)).astype(np.float32) + y[:, None],
                                  rng.normal(size=(n, 2)).astype(np.float32), y))
    return PairedDataset(*splits, num_classes=2, name=f"tiny-{level}-{depth}",
                         info={"modalities": ["a", "b"]},
                         params={"level": level, "depth": depth, "seed": seed})


def fake_result(lam: float, seed: int, config: TrainConfig) -> FitResult:
    """A deterministic stand-in for a trained run, with weights for the measurement stage."""
    score = 0.5 + 0.01 * seed + 0.1 * lam
    weights = {"encoder.out.weight": np.full((2, 3), lam, dtype=np.float32),
               "head.bias": np.full(2, seed, dtype=np.float32)}
    return FitResult(lam=float(lam), seed=int(seed), config=config, acc1=score, acc2=score / 2,
                     loss1=1 - score, loss2=2.0, val_acc1=score, val_acc2=0.4, best_epoch1=1, best_epoch2=0,
                     steps=7, hit_cap=lam > 0, history=[{"epoch": 0, "loss": 1.5}], time_s=0.1,
                     weights1=weights, weights2=dict(weights))


class FakeTrainers(Trainer):
    """Instant stand-ins for the sweep's trainers and measurement (`run_sweep(..., trainer=...)`): they count
    the runs and groups they train and the measurements they make, and can raise KeyboardInterrupt when a
    given group starts. Counts are kept in this process only (use workers=1).
    """

    def __init__(self, interrupt_at_group: int | None = None):
        self.runs: list[tuple[float, int]] = []
        self.groups = 0
        self.single = 0
        self.measured = 0
        self.threads: list[int] = []  # passed to each training call
        self.interrupt_at_group = interrupt_at_group

    def blocker(self, config):
        return "" if config.encoder == "mlp" else "not an MLP"

    def fit_many(self, datasets, lams, seeds, config, *, threads):
        self.threads.append(threads)
        if self.interrupt_at_group is not None and self.groups == self.interrupt_at_group:
            raise KeyboardInterrupt
        self.groups += 1
        results = [fake_result(lam, seed, config) for lam, seed in zip(lams, seeds, strict=True)]
        self.runs += [(r.lam, r.seed) for r in results]
        return results

    def fit(self, dataset, lam, seed, config, *, threads):
        self.threads.append(threads)
        self.single += 1
        self.runs.append((lam, seed))
        return fake_result(lam, seed, config)

    def measure(self, dataset, result, *, threads):
        self.measured += 1
        if not result.ok:
            return {}, {}
        lam = float(result.weights1["encoder.out.weight"][0, 0])  # read from the weights, as a measurement
        return {"knn": 0.3, "cka": lam / 10}, {"knn": 0.1, "cka": 0.01}


CURRENT = {"trainer": None}  # the stand-in `run_tiny` uses by default (set by the `trainers` fixture)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test's stored results (`alignbook.storage`) in its own folder: a test computes what it checks,
    and never writes into the repository's cache."""
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Cache and results in tmp_path, and a `tiny` dataset kind."""
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    registry.register_dataset("tiny", tiny_dataset)
    yield tmp_path
    registry.unregister_dataset("tiny")


@pytest.fixture
def trainers():
    fake = FakeTrainers()
    CURRENT["trainer"] = fake
    yield fake
    CURRENT["trainer"] = None


def spec_dict(**changes) -> dict:
    values = {"name": "tiny_sweep", "dataset": {"kind": "tiny"},
              "dataset_grid": {"level": [0, 2], "depth": [1, 3]}, "lams": [0.0, 0.5, 1.0], "seeds": [0, 1],
              "train": {"num_epochs": 2}}
    values.update(changes)
    return values


def run_tiny(spec: dict, **kwargs):
    """run_sweep in this process, without a progress bar, with the `trainers` fixture's stand-in if any."""
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    if CURRENT["trainer"] is not None:
        kwargs.setdefault("trainer", CURRENT["trainer"])
    return run_sweep(spec, **kwargs)


@pytest.fixture
def one_thread():
    """Training tests use one thread: their tiny models gain nothing from more, and on a busy machine
    competing threads make them several times slower."""
    from alignbook.training.threads import limited_threads

    with limited_threads(1):
        yield


def notebook_sources() -> list[Path]:
    """Every committed notebook, `notebooks/NN_name.ipynb`, in book order."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def smoke_parameters() -> dict[str, dict]:
    import yaml

    return yaml.safe_load(SMOKE.read_text()) or {}


def kernel_name() -> str:
    """The kernel `make venv` installs into the environment, else this interpreter's own kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    return "alignbook" if "alignbook" in KernelSpecManager().find_kernel_specs() else "python3"


def tool(name: str) -> str:
    """A console script of the environment running the tests."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed in this environment (run `make venv`)")
    return found


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def isolated_env(tmp_path_factory) -> dict[str, str]:
    """Environment for notebook runs: a fresh cache and results folder, so runs really compute."""
    base = tmp_path_factory.mktemp("papermill-run")
    env = dict(os.environ)
    env["ALIGNBOOK_CACHE"] = str(base / "cache")
    env["ALIGNBOOK_RESULTS"] = str(base / "results")
    return env


@pytest.fixture(scope="session")
def smoke_executed(tmp_path_factory, isolated_env) -> Path:
    """Every notebook executed by papermill with the parameters of `configs/smoke.yaml`."""
    out = tmp_path_factory.mktemp("executed")
    result = run(
        [sys.executable, str(ROOT / "scripts" / "execute_notebooks.py"),
         "--profile", "smoke", "--out", str(out), "--jobs", "2"],
        env=isolated_env, cwd=ROOT,
    )
    if result.returncode != 0:
        pytest.fail(f"papermill smoke run failed:\n{result.stdout}\n{result.stderr}")
    return out


@pytest.fixture(scope="session")
def smoke_site(tmp_path_factory, smoke_executed) -> Path:
    """The book built strictly (`-W -n --keep-going`) from the smoke-executed notebooks: its html folder."""
    if not MATHJAX.is_file():
        pytest.fail("MathJax is not in book/_static/mathjax (run `make mathjax`)")
    source = tmp_path_factory.mktemp("site-source")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "book", source / "book", ignore=shutil.ignore_patterns("_generated"))
    shutil.copytree(smoke_executed, source / "executed")
    table = run(
        [sys.executable, str(ROOT / "scripts" / "timings_table.py"),
         str(source / "executed" / "manifest.json"), str(source / "book" / "_generated" / "timings.md")]
    )
    assert table.returncode == 0, table.stderr
    output = tmp_path_factory.mktemp("site-output")
    result = run(
        [tool("jupyter-book"), "build", str(source), "--path-output", str(output), "-W", "-n", "--keep-going"]
    )
    (output / "build.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        pytest.fail(f"strict book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return output / "_build" / "html"


@pytest.fixture(scope="session")
def smoke_pdf(smoke_site) -> Path:
    """The smoke site printed to one PDF by `scripts/book_pdf.py`, where the intro links it."""
    result = run([sys.executable, str(ROOT / "scripts" / "book_pdf.py"), str(smoke_site)])
    if result.returncode != 0:
        pytest.fail(f"printing the book to PDF failed:\n{result.stdout}\n{result.stderr}")
    return smoke_site / "alignbook.pdf"


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless Debian Chromium driven by its own chromedriver; Selenium may never fetch a driver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromedriver are missing (`make test` installs the Debian packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common import selenium_manager

    def refuse(*args, **kwargs):
        raise AssertionError("selenium-manager was asked for a driver; it must never download one")

    original = selenium_manager.SeleniumManager.binary_paths
    selenium_manager.SeleniumManager.binary_paths = refuse
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
        "--window-size=1280,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        selenium_manager.SeleniumManager.binary_paths = original
