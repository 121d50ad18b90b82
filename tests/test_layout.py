"""The package layout: old module paths fail with the new path named, packages keep their names."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import alignbook


@pytest.mark.parametrize("old", sorted(alignbook.MOVED))
def test_an_old_module_path_is_an_import_error_naming_the_new_one(old):
    new = alignbook.MOVED[old]
    importlib.import_module(new)  # the named module exists
    for statement in (f"import alignbook.{old}", f"from alignbook import {old}",
                      f"from alignbook.{old} import anything"):
        result = subprocess.run([sys.executable, "-c", statement], capture_output=True, text=True)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 1 and last.startswith("ImportError:"), (statement, result.stderr)
        assert f"alignbook.{old} was removed" in last and new in last, (statement, last)


def test_the_package_has_no_alias_modules_left():
    names = {info.name for info in pkgutil.iter_modules(alignbook.__path__)}
    assert not names & set(alignbook.MOVED) and "compat" not in names


def test_packages_keep_the_public_names_of_the_modules_they_replace():
    from alignbook import analysis, data, info, metrics, models, plotting, storage, sweep

    expected = {
        data: ["PairedDataset", "PairedSplit", "from_arrays", "load_mfeat", "load_basicmotions",
               "load_multibench", "load_avmnist", "read_ts", "split_indices", "split_sizes", "standardize",
               "MFEAT_VIEWS", "MULTIBENCH_MODALITIES"],
        info: ["entropy", "mutual_information", "bayes_accuracy", "pid", "broja_optimum", "check_joint",
               "PIDConvergenceError", "estimate_pid", "PIDEstimate", "discretize", "pid_sensitivity",
               "kmeans"],
        models: ["Branch", "MLPEncoder", "build_branch", "projection_head"],
        sweep: ["SweepSpec", "RunSpec", "run_sweep", "load_spec", "RunCache", "run_key", "Measurements",
                "measurement_key", "register_dataset", "dataset_kinds", "build_dataset", "resolve_workers",
                "table_columns", "Trainer", "count_cached", "cached_keys", "RUN_LOG_VARIABLE",
                "representations", "training_code"],
        metrics: ["mutual_knn", "cka", "cknna", "svcca", "prepare", "all_scores", "pair_alignment", "METRICS",
                  "chance_level", "permutation_baseline", "best_layer_scores", "Summaries"],
        plotting: ["plot_lam_curves", "plot_alignment_curves", "plot_regime_map", "style"],
        storage: [],
        analysis: ["curve_summary", "optimal_lam", "alignment_trend", "correlation_ci", "search_lam",
                   "LamSearchResult", "LamPredictor", "predict_lam_from_pid", "SHAPES"],
    }
    for package, names in expected.items():
        missing = [name for name in names if not hasattr(package, name)]
        assert not missing, f"{package.__name__} lacks {missing}"
        assert set(getattr(package, "__all__", [])) <= set(dir(package))


def test_every_module_imports_without_a_deprecation_warning():
    code = """
import pkgutil, warnings, importlib
import alignbook
warnings.filterwarnings("error", category=DeprecationWarning, module="alignbook")
for info in pkgutil.walk_packages(alignbook.__path__, "alignbook."):
    if info.name != "alignbook.__main__":
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
