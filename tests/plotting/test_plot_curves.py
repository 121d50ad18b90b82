"""Curves against `lam` (`plotting.curves`): one curve per encoder or metric and panel, bounds, `lam*`
markers, chance lines, a shared scale for compared figures."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_house_style, data_lines, rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import analysis, plotting

METRICS = ("align_mutual_knn", "align_cka")
LAMS = [0.0, 0.5, 1.0, 1.5]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for level in (0, 4):
        for seed in range(3):
            for lam in LAMS:
                knn, cka = 0.1 + 0.2 * lam + rng.normal(0, 0.01), 0.3 + 0.1 * lam + rng.normal(0, 0.01)
                for encoder in (1, 2):
                    rows.append(dict(dataset="synthetic", redundancy=level, lam=lam, seed=seed,
                                     encoder=encoder,
                                     acc=0.7 + 0.02 * lam * (1 if level else -1) + rng.normal(0, 0.005),
                                     status="ok", align_mutual_knn=knn, align_cka=cka))
    return pd.DataFrame(rows)


def test_plot_lam_curves(table):
    summary = analysis.curve_summary(table, by="redundancy")
    fig = plotting.plot_lam_curves(summary, by="redundancy")
    assert_house_style(fig)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert data_lines(ax) == 2  # one mean curve per encoder (error bars are collections)
        assert ax.get_xlabel()
    assert fig.axes[0].get_ylabel() == "test accuracy"
    colors = [matplotlib.colors.to_hex(line.get_color()) for line in fig.axes[0].lines]
    assert colors == [plotting.encoder_colors[1].lower(), plotting.encoder_colors[2].lower()]


def test_plot_lam_curves_with_bounds_and_lam_star(table):
    summary = analysis.curve_summary(table, by="redundancy")
    stars = pd.DataFrame({"redundancy": [0, 0, 4, 4], "encoder": [1, 2, 1, 2],  # as optimal_lam gives it
                          "lam_star": [0.5, 1.0, 1.5, 0.0], "lam_low": [0.0, 0.5, 1.0, 0.0],
                          "lam_high": [1.0, 1.5, 1.5, 0.5]})
    fig = plotting.plot_lam_curves(summary, bounds={1: 0.8, 2: 0.75}, lam_star=stars)
    for ax in fig.axes:
        assert data_lines(ax) == 2 + 2 + 2  # curves, dashed bounds, lam* markers
    fig, ax = plt.subplots()
    single = summary[summary.redundancy == 4]
    assert plotting.plot_lam_curves(single, ax=ax) is fig
    with pytest.raises(ValueError, match="ax"):
        plotting.plot_lam_curves(summary, ax=ax)
    with pytest.raises(ValueError, match="several rows"):
        plotting.plot_lam_curves(summary, by=None)


def test_plot_alignment_curves(table):
    summary = pd.concat([analysis.curve_summary(table, by="redundancy", metric=m) for m in METRICS])
    fig = plotting.plot_alignment_curves(summary, metrics=METRICS, chance={"align_mutual_knn": 0.05,
                                                                           "align_cka": {0: 0.1, 4: 0.12}})
    assert_house_style(fig)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert data_lines(ax) == 2 + 2  # one curve per metric, one dotted chance line per metric
    with pytest.raises(ValueError, match="metrics"):
        plotting.plot_alignment_curves(summary, metrics=("align_svcca",))


def test_compared_panels_share_a_scale_and_encoders_sit_apart(table):
    summary = analysis.curve_summary(table, by="redundancy")
    bounds = {level: {1: 0.95, 2: 0.9} for level in summary["redundancy"].unique()}
    limits = plotting.lam_curve_limits(summary, by="redundancy", bounds=bounds)
    for level, (low, high) in limits.items():
        part = summary[summary["redundancy"] == level]
        assert low < part["ci_low"].min() and high > 0.95  # every interval and the bound fit
    fig = plotting.plot_lam_curves(summary, by="redundancy", bounds=bounds, ylim=limits)
    assert_house_style(fig)
    for ax, level in zip(fig.axes, sorted(limits), strict=True):
        assert ax.get_ylim() == pytest.approx(limits[level])
        first, second = (line.get_xdata() for line in ax.lines[:3:2])  # the two encoders' mean curves
        lams = np.sort(summary["lam"].unique())
        assert np.all(first < lams + 1e-12) and np.all(second > lams - 1e-12)
        assert np.all(second - first > 0) and np.all(second - first < np.diff(lams).min() / 2)
