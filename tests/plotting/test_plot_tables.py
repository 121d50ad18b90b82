"""Reading the tables figures are drawn from (`plotting.tables`): checks that name the argument, levels,
per-level values and error bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook.plotting import tables


def test_check_frame_names_the_argument_and_the_problem():
    frame = pd.DataFrame({"lam": [0.0, 1.0], "mean": [0.5, 0.6]})
    assert tables.check_frame("summary", frame, ["lam"]) is frame
    with pytest.raises(ValueError, match="^summary: must be a pandas DataFrame, got dict"):
        tables.check_frame("summary", {"lam": [0.0]}, ["lam"])
    with pytest.raises(ValueError, match="^summary: missing column\\(s\\) 'encoder', 'ci_low'"):
        tables.check_frame("summary", frame, ["lam", "encoder", "ci_low"])
    with pytest.raises(ValueError, match="^points: is empty"):
        tables.check_frame("points", frame.iloc[:0], ["lam"])


def test_levels_and_rows_at_a_level():
    frame = pd.DataFrame({"redundancy": [4, 0, 4, np.nan], "value": [1, 2, 3, 4]})
    assert tables.levels(frame, "redundancy", "frame") == [0.0, 4.0]
    assert tables.levels(frame, None, "frame") == [None]
    assert tables.at_level(frame, "redundancy", 4)["value"].tolist() == [1, 3]
    assert tables.at_level(frame, None, 4) is frame
    with pytest.raises(ValueError, match="^by: is not a column of frame: 'depth'"):
        tables.levels(frame, "depth", "frame")


def test_per_level_reads_numbers_and_nested_mappings():
    assert tables.per_level(None, 0) is None
    assert tables.per_level(0.9, 4, encoder=1) == 0.9
    assert tables.per_level({1: 0.8, 2: 0.7}, 4, encoder=2) == 0.7
    assert tables.per_level({4: {1: 0.8}, 0: {1: 0.6}}, 0, encoder=1) == 0.6
    assert tables.per_level({4: {1: 0.8}}, 4, encoder=2) is None
    assert tables.per_level({4: 0.5}, 4) == 0.5 and tables.per_level({1: 0.8}, 4) is None


def test_error_bars_are_distances_from_the_mean_and_nan_draws_none():
    part = pd.DataFrame({"mean": [0.5, 0.6], "ci_low": [0.4, np.nan], "ci_high": [0.7, np.nan]})
    assert np.allclose(tables.yerr(part), [[0.1, 0.0], [0.2, 0.0]])
    assert tables.yerr(part.drop(columns="ci_high")) is None


def test_one_curve_per_group_and_metric_selection():
    frame = pd.DataFrame({"metric": ["acc", "acc", "val_acc"], "lam": [0.0, 0.0, 0.0], "encoder": [1, 2, 1]})
    tables.check_one_curve(frame[frame.metric == "acc"], ["encoder", "lam"], "summary")
    with pytest.raises(ValueError, match=r"^summary: has several rows per \(encoder, lam\)"):
        tables.check_one_curve(frame, ["encoder", "lam"], "summary")
    assert tables.select_metric(frame, "val_acc", "summary")["encoder"].tolist() == [1]
    one_metric = frame.drop(columns="metric")
    assert tables.select_metric(one_metric, "acc", "summary") is one_metric
    with pytest.raises(ValueError, match="^metric: 'loss' is not in summary"):
        tables.select_metric(frame, "loss", "summary")
