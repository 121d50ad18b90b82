"""Regime maps and the gain against the Bayes gap (`plotting.maps`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from figure_checks import rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import plotting


def _map_frame():
    rows = []
    for depth in (1, 10):
        for encoder in (1, 2):
            for n_train in (300, 1000, 45875):
                for redundancy in (0, 4, 8):
                    gain = 0.01 * (redundancy - 4) / (1 + n_train / 1000)
                    rows.append(dict(depth=depth, encoder=encoder, n_train=n_train, redundancy=redundancy,
                                     gain=gain, gain_low=gain - 0.004, gain_high=gain + 0.004,
                                     lam_star=0.5, lam_low=0.2, lam_high=1.0, gap=abs(gain) + 0.01))
    return pd.DataFrame(rows)


def test_plot_regime_map_annotates_every_cell():
    frame = _map_frame()
    fig = plotting.plot_regime_map(frame)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4
    texts = [t.get_text() for t in panels[0].texts]
    assert len(texts) == 9 and "+0.031\n[+0.027,\n+0.035]" in texts  # depth 1, enc1, r = 8, n = 300
    bold = [t.get_text() for t in panels[0].texts if t.get_fontweight() == "bold"]
    assert "-0.031\n[-0.035,\n-0.027]" in bold and all("+0.000" not in t for t in bold)
    assert [t.get_text() for t in panels[-1].get_xticklabels()] == ["300", "1,000", "45,875"]
    lam_fig = plotting.plot_regime_map(frame, value="lam_star", low="lam_low", high="lam_high",
                                       diverging=False, fmt="{:g}")
    assert "0.5\n[0.2,\n1]" in [t.get_text() for t in lam_fig.axes[0].texts]
    with pytest.raises(ValueError, match="^frame: has several rows"):
        plotting.plot_regime_map(pd.concat([frame, frame]))
    plt.close("all")


def test_plot_regime_map_takes_named_levels_and_no_row_panels():
    frame = pd.DataFrame({"dataset": ["pix-fou", "fac-kar"] * 2, "label_fraction": [0.05, 0.05, 1.0, 1.0],
                          "role": "weaker", "gain": [0.02, 0.01, 0.0, -0.01]})
    fig = plotting.plot_regime_map(frame, x="label_fraction", y="dataset", rows=None, cols="role", low=None,
                                   high=None)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 1 and panels[0].get_title() == "role = weaker"
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["fac-kar", "pix-fou"]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["0.05", "1"]
    assert sorted(t.get_text() for t in panels[0].texts) == ["+0.000", "+0.010", "+0.020", "-0.010"]
    plt.close("all")


def test_plot_gain_vs_gap():
    fig = plotting.plot_gain_vs_gap(_map_frame())
    ax = fig.axes[0]
    assert len(ax.collections) >= 4  # a scatter (and intervals) per encoder and depth
    assert any(line.get_linestyle() == "--" for line in ax.lines)  # gain = gap
    plt.close("all")
