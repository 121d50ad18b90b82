"""Every chapter runs to its end for the unusual parameter combinations of `configs/combinations.yaml`."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from conftest import ROOT, kernel_name, smoke_parameters

pytestmark = pytest.mark.book

COMBINATIONS = yaml.safe_load((ROOT / "configs" / "combinations.yaml").read_text()) or {}
CASES = [(notebook, name, overrides) for notebook, named in COMBINATIONS.items()
         for name, overrides in (named or {}).items()]


def test_every_chapter_lists_its_combinations():
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("*.md"))
    assert sorted(COMBINATIONS) == notebooks


def execute(case, folder, env) -> tuple[str, int, str]:
    notebook, name, overrides = case
    parameters = {**smoke_parameters().get(notebook, {}), **overrides}
    values = folder / f"{notebook}-{name}.yaml"
    values.write_text(yaml.safe_dump(parameters))
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / f"{notebook}.ipynb"),
         str(folder / f"{notebook}-{name}.ipynb"), "-f", str(values), "-k", kernel_name(),
         "--cwd", str(folder), "--no-progress-bar"],
        capture_output=True, text=True, env=env)
    return f"{notebook} [{name}]", result.returncode, result.stderr[-2500:]


@pytest.mark.skipif(not CASES, reason="no combinations listed")
def test_unusual_parameter_combinations_run_to_the_end(tmp_path, isolated_env):
    with ThreadPoolExecutor(max_workers=2) as pool:  # two notebooks at a time, as the build
        outcomes = list(pool.map(lambda case: execute(case, tmp_path, isolated_env), CASES))
    failed = [f"{label}:\n{err}" for label, code, err in outcomes if code != 0]
    assert not failed, "\n\n".join(failed)
