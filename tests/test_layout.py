"""The package layout: moved modules keep their old paths (with a warning), packages keep their names."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

import alignbook

# every module path of the flat layout that is no longer a module, and where it went
OLD_PATHS = {
    "alignbook.alignment": "alignbook.models.alignment",
    "alignbook.analysis_study": "alignbook.chapters.analysis",
    "alignbook.bench": "alignbook.training.bench",
    "alignbook.book": "alignbook.chapters.book",
    "alignbook.claims": "alignbook.analysis.claims",
    "alignbook.realdata_study": "alignbook.chapters.realdata",
    "alignbook.results": "alignbook.training.results",
    "alignbook.runtime": "alignbook.training.threads",
    "alignbook.seeding": "alignbook.training.seeding",
    "alignbook.sequence_models": "alignbook.models.sequence",
    "alignbook.studies": "alignbook.chapters.studies",
    "alignbook.synthetic": "alignbook.data.synthetic",
    "alignbook.train": "alignbook.training.single",
    "alignbook.vectorized": "alignbook.training.vectorized",
}


@pytest.mark.parametrize("old, new", sorted(OLD_PATHS.items()))
def test_old_module_path_warns_and_is_the_new_module(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)  # a fresh import, so the warning is raised again
    with pytest.warns(DeprecationWarning, match=f"{re.escape(old)} is deprecated.*{re.escape(new)}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_a_script_written_for_the_flat_layout_still_runs():
    code = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from alignbook.train import fit, fit_unimodal, TrainingDiverged
    from alignbook.vectorized import fit_many
    from alignbook.synthetic import make_dataset, exact_info
    from alignbook.alignment import ContrastiveAligner, info_nce
    from alignbook.results import FitResult
    from alignbook.seeding import batch_indices
    from alignbook.runtime import limited_threads
    from alignbook.claims import claims_table
    from alignbook.studies import synthetic_sweep_spec
import alignbook.training.single as single, alignbook.training.vectorized as vectorized
assert fit is single.fit and fit_many is vectorized.fit_many and TrainingDiverged is single.TrainingDiverged
moved = sorted({str(w.message).split()[0] for w in caught if w.category is DeprecationWarning})
print(",".join(moved))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["alignbook.alignment,alignbook.claims,alignbook.results,alignbook.runtime,"
                           "alignbook.seeding,alignbook.studies,alignbook.synthetic,alignbook.train,"
                           "alignbook.vectorized"]


def test_packages_keep_the_public_names_of_the_modules_they_replace():
    from alignbook import analysis, data, info, models, sweep

    expected = {
        data: ["PairedDataset", "PairedSplit", "from_arrays", "load_mfeat", "load_basicmotions",
               "load_multibench", "load_avmnist", "read_ts", "split_indices", "split_sizes", "standardize",
               "MFEAT_VIEWS", "MULTIBENCH_MODALITIES"],
        info: ["entropy", "mutual_information", "bayes_accuracy", "pid", "broja_optimum", "check_joint",
               "PIDConvergenceError", "estimate_pid", "PIDEstimate", "discretize", "pid_sensitivity",
               "kmeans"],
        models: ["Branch", "MLPEncoder", "build_branch", "projection_head"],
        sweep: ["SweepSpec", "RunSpec", "run_sweep", "load_spec", "RunCache", "run_key", "run_sources",
                "register_dataset", "dataset_kinds", "build_dataset", "resolve_workers", "table_columns",
                "NOT_IN_RUN_KEYS"],
        analysis: ["curve_summary", "optimal_lam", "alignment_trend", "correlation_ci", "search_lam",
                   "LamSearchResult", "LamPredictor", "predict_lam_from_pid", "SHAPES"],
    }
    for package, names in expected.items():
        missing = [name for name in names if not hasattr(package, name)]
        assert not missing, f"{package.__name__} lacks {missing}"
        assert set(package.__all__) <= set(dir(package))


def test_the_package_itself_imports_no_deprecated_path():
    code = """
import pkgutil, warnings, importlib
import alignbook
from alignbook.compat import MOVED
warnings.filterwarnings("error", message=".*is deprecated: the module moved", category=DeprecationWarning)
for info in pkgutil.walk_packages(alignbook.__path__, "alignbook."):
    if info.name.rpartition(".")[2] not in MOVED and info.name != "alignbook.__main__":
        importlib.import_module(info.name)
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_submodules_are_found_without_a_list_and_unknown_names_fail():
    subpackages = {"data", "info", "models", "training", "sweep", "analysis", "chapters", "metrics"}
    assert subpackages <= set(dir(alignbook))
    assert alignbook.sweep.run_sweep is importlib.import_module("alignbook.sweep.run").run_sweep
    with pytest.raises(AttributeError, match="no_such_module"):
        alignbook.no_such_module  # noqa: B018


def test_no_private_name_is_imported_across_modules():
    import ast
    from pathlib import Path

    root = Path(alignbook.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level or str(node.module).startswith("alignbook"):
                found += [f"{path.relative_to(root)}: {alias.name}" for alias in node.names
                          if alias.name.startswith("_")]
    assert not found
