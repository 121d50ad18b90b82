"""`lam*` against redundancy and the trace of an automatic search (`plotting.lam_star`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_house_style, data_lines, rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import analysis, plotting


def test_plot_lam_star_vs_redundancy():
    points = pd.DataFrame({"redundancy_fraction": [0.0, 0.4, 0.9, 0.1], "encoder": [1, 1, 1, 2],
                           "lam_star": [0.0, 0.6, 2.0, 0.75], "lam_low": [0.0, 0.4, 1.6, 0.5],
                           "lam_high": [0.2, 0.8, 2.0, 1.0], "kind": ["synthetic"] * 3 + ["real"],
                           "label": ["", "", "", "MOSEI text"]})
    fig = plotting.plot_lam_star_vs_redundancy(points)
    assert_house_style(fig)
    assert len(fig.axes[0].containers) == 2  # error bars of (enc1, synthetic) and (enc2, real)
    with pytest.raises(ValueError, match="kind"):
        plotting.plot_lam_star_vs_redundancy(points.assign(kind="other"))


def test_plot_search_trace():
    def evaluate(lams, resource, seed):
        return [0.8 - 0.05 * (lam - 1.3) ** 2 for lam in lams]

    result = analysis.search_lam(evaluate, budget=4, method="halving")
    grid = np.linspace(0, 4, 41)
    fig = plotting.plot_search_trace(result, (grid, evaluate(grid, 1, 0)))
    assert_house_style(fig)
    assert data_lines(fig.axes[0]) == 2  # the grid curve and the chosen lam*
    assert len(fig.axes[0].collections) == len({r for _, _, r in result.history})
    fig = plotting.plot_search_trace(result.history)
    assert data_lines(fig.axes[0]) == 0
