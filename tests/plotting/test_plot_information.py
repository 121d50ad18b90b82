"""Samples, information quantities, the PID and its estimators' errors (`plotting.information`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_house_style, rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import plotting


def test_plot_info_table_and_pid():
    info = {r: {"I1": 0.3 + 0.1 * r, "I2": 0.4 + 0.1 * r, "I12": 1.16, "acc1": 0.6, "acc2": 0.65, "acc": 0.9}
            for r in (0, 4, 8)}
    fig = plotting.plot_info_table(info)
    assert_house_style(fig)
    assert len(fig.axes) == 2 and all(len(ax.patches) == 9 for ax in fig.axes)
    names = {"I1": "mi_x1_y", "I2": "mi_x2_y", "I12": "mi_x1x2_y", "acc1": "bayes_acc_x1",
             "acc2": "bayes_acc_x2", "acc": "bayes_acc"}  # synthetic.exact_info's keys work as they are
    fig = plotting.plot_info_table({r: {names[k]: v for k, v in row.items()} for r, row in info.items()})
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(
        [info[r][k] for k in ("I1", "I2", "I12") for r in (0, 4, 8)])
    pid = {r: {"R": 0.1 * r, "U1": 0.2, "U2": 0.2, "S": 0.5} for r in (0, 4, 8)}
    fig = plotting.plot_pid(pid)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 12
    estimated = pd.DataFrame([{"redundancy": r, **v, "R_err": 0.02} for r, v in pid.items()])
    fig = plotting.plot_pid(pid, estimated=estimated)
    assert_house_style(fig)
    assert len(fig.axes[0].patches) == 24 + 1  # exact and estimated stacks, plus the hatch legend entry
    with pytest.raises(ValueError, match="acc"):
        plotting.plot_info_table({0: {"I1": 1, "I2": 1, "I12": 1}})


def test_plot_samples():
    rng = np.random.default_rng(0)
    x1, x2 = rng.integers(0, 2, size=(50, 12)), rng.normal(size=(50, 12))
    y = rng.integers(0, 4, size=50)
    fig = plotting.plot_samples(x1, x2, y, n=3)
    assert_house_style(fig)
    assert len(fig.axes) == 3  # x1, x2 and the shared colour bar
    assert fig.axes[0].images[0].get_array().shape == (12, 12)  # 3 examples of each of 4 classes


def test_plot_estimator_errors_draws_one_line_per_estimator_and_panel_per_depth():
    rows = [{"estimator": name, "n_samples": n, "depth": depth, "mae_R": error / n, "mae_U1": 0.0,
             "mae_U2": 0.0, "mae_S": 0.0}
            for name, error in (("kmeans", 800.0), ("codes/none", 100.0)) for n in (1000, 4000)
            for depth in (1, 3)]
    fig = plotting.plot_estimator_errors(pd.DataFrame(rows), target=0.05)
    assert len(fig.axes) == 2
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in ("kmeans", "codes/none")]
    assert sorted(line.get_label() for line in lines) == ["codes/none", "kmeans"]
    kmeans = next(line for line in lines if line.get_label() == "kmeans")
    assert np.allclose(kmeans.get_ydata(), [800 / 1000 / 4, 800 / 4000 / 4])  # mean over the four parts
    assert any(np.allclose(line.get_ydata(), 0.05) for line in fig.axes[0].get_lines())  # the target
    plt.close(fig)
    with pytest.raises(ValueError, match="summary"):
        plotting.plot_estimator_errors(pd.DataFrame(rows).drop(columns="mae_S"))
