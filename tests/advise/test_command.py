"""`python -m alignbook advise`: bad data is one line and exit code 2; on synthetic pairs whose answer is
known, the command gives it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alignbook.advise import DEFAULT_BUDGET
from alignbook.cli import USAGE_ERROR, main
from alignbook.data import synthetic


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    return tmp_path


def test_help_states_the_default_budget(capsys):
    assert main(["advise", "--help"]) == 0
    assert f"DEFAULT_BUDGET, {DEFAULT_BUDGET})" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("problem, name", [("nan", "x1"), ("one class", "y"), ("3-D", "x2")])
def test_bad_data_is_one_line_naming_the_array_and_exit_code_2(results, capsys, problem, name):
    rng = np.random.default_rng(0)
    x1, x2, y = rng.normal(size=(300, 4)), rng.normal(size=(300, 3)), np.arange(300) % 3
    if problem == "nan":
        x1[5, 2] = np.nan
    elif problem == "one class":
        y = np.zeros(300, dtype=int)
    else:
        x2 = x2.reshape(300, 3, 1, 1)
    path = results / "pairs.npz"
    np.savez(path, x1=x1, x2=x2, y=y)
    assert main(["advise", str(path), "--out", str(results / "out")]) == USAGE_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"alignbook advise: {name}: "), err
    assert not (results / "out" / "report.html").exists()


def synthetic_pairs(folder, redundancy: int, depth: int, n: int = 8192):
    """The book's synthetic data of one level, all splits pooled into an .npz file (the command draws
    its own split per seed)."""
    dataset = synthetic.make_dataset(redundancy=redundancy, depth=depth, n_samples=n, seed=0)
    parts = list(dataset.splits.values())
    path = folder / f"r{redundancy}.npz"
    np.savez(path, **{k: np.concatenate([getattr(s, k) for s in parts]) for k in ("x1", "x2", "y")})
    return path


def advice_of(folder, path, *options) -> dict:
    out = folder / f"{path.stem}-advice"
    assert main(["advise", str(path), "--out", str(out), "--quiet", *options]) == 0
    assert (out / "report.html").is_file()
    return {e["encoder"]: e for e in json.loads((out / "advice.json").read_text())["encoders"]}


@pytest.mark.slow
@pytest.mark.processes
def test_redundancy_8_with_scarce_labels_alignment_hurts_the_untransformed_modality(results):
    """Redundancy 8 (every label bit shared), depth 4, 300 labels, 5 seeds: the encoder of the untransformed
    modality x1 loses when aligned (p_fall 0.025 on this machine; 0.001 with 8 seeds), that of the
    transformed x2 gains +0.015 but not significantly (the issue expected "helps" for x2: with 5 or 8 seeds
    the gain stays below what the runs can detect, 0.024 and 0.016). Training is deterministic, so these
    are the answers the command gives."""
    encoders = advice_of(results, synthetic_pairs(results, 8, 4), "--labels", "300", "--budget", "30")
    assert encoders[1]["verdict"] == "hurts", encoders[1]
    assert encoders[1]["loss_high"] < 0 and encoders[1]["lam_worst"] > 0
    assert encoders[2]["verdict"] != "hurts" and encoders[2]["gain"] > 0, encoders[2]
    assert encoders[2]["n_seeds"] == 5 and encoders[2]["n_train"] == 300


@pytest.mark.slow
@pytest.mark.processes
def test_the_command_works_from_an_installed_package_outside_the_checkout(tmp_path):
    """A wheel of the repository, installed into a folder of its own and run from elsewhere, answers alone:
    nothing it needs (the protocol file, the chapter's functions) lives only in the checkout."""
    root, source = Path(__file__).resolve().parents[2], tmp_path / "source"  # a build writes beside it
    shutil.copytree(root / "alignbook", source / "alignbook", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True,
                           cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("alignbook-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                                str(tmp_path / "site"), str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    rng = np.random.default_rng(0)
    y = np.arange(450) % 3
    np.savez(tmp_path / "pairs.npz", x1=rng.normal(size=(450, 5)) + y[:, None], x2=rng.normal(size=(450, 4)),
             y=np.array(["cat", "dog", "owl"])[y])
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site"), "HOME": str(tmp_path),
           "ALIGNBOOK_CACHE": str(tmp_path / "cache"), "ALIGNBOOK_RESULTS": str(tmp_path / "results")}
    code = ("import alignbook, sys; from alignbook.cli import main; print(alignbook.__file__, flush=True); "
            "sys.exit(main(['advise', 'pairs.npz', '--out', 'advice', '--budget', '18', '--workers', '1', "
            "'--quiet']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith(str(tmp_path / "site")), done.stdout
    advice = json.loads((tmp_path / "advice" / "advice.json").read_text())
    verdicts = [encoder["verdict"] for encoder in advice["encoders"]]
    assert len(verdicts) == 2 and set(verdicts) <= {"helps", "hurts", "no detectable effect"}, verdicts
    assert advice["data"]["classes"] == ["cat", "dog", "owl"]
    assert (tmp_path / "advice" / "report.html").read_text().startswith("<!DOCTYPE html>")
