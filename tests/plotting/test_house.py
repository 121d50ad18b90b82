"""The house style (`plotting.house`): distinct encoder colours, a style applied only inside `style()`,
panels, offsets, shades and legends."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from figure_checks import rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import plotting
from alignbook.plotting import house


def test_encoder_colors_are_distinct():
    assert set(plotting.encoder_colors) == {1, 2}
    assert plotting.encoder_colors[1] != plotting.encoder_colors[2]


def test_style_context_restores():
    with plotting.style():
        assert matplotlib.rcParams["axes.grid"] is True


def test_style_applies_the_house_settings_and_restores_only_them():
    matplotlib.rcParams["interactive"] = not matplotlib.rcParams["interactive"]  # as a notebook backend does
    before = dict(matplotlib.rcParams)
    with plotting.style():
        inside = dict(matplotlib.rcParams)
        matplotlib.rcParams["lines.linewidth"] = 5.0  # a change inside is undone too
    assert all(inside[key] == value for key, value in plotting.STYLE.items())
    assert dict(matplotlib.rcParams) == before  # interactive kept as it was set, not reset to a default
    matplotlib.rcParams["interactive"] = not matplotlib.rcParams["interactive"]


def test_panels_take_the_full_width_from_three_and_drop_unused_cells():
    fig, axes = house.panels(2, 3)
    assert len(axes) == 2 and tuple(fig.get_size_inches()) == (house.FIG_WIDTH, house.ROW_HEIGHT)
    fig, axes = house.panels(5, 3)
    assert len(axes) == len(fig.axes) == 5
    assert tuple(fig.get_size_inches()) == (house.WIDE_WIDTH, 2 * house.GRID_ROW_HEIGHT)


def test_dodge_sets_curves_apart_symmetrically_within_a_step():
    lams = [0.0, 0.5, 1.0]
    shifts = [house.dodge(lams, rank, 3) - lams for rank in range(3)]
    assert np.allclose(shifts[1], 0.0) and np.allclose(shifts[0], -shifts[2])
    assert np.allclose(shifts[2], 0.3 * 0.5 / 3)  # a third of 30 % of the smallest step
    assert np.array_equal(house.dodge([2.0], 0, 1), [2.0])


def test_shade_runs_from_pale_to_the_full_colour():
    blue = matplotlib.colors.to_rgb(plotting.encoder_colors[1])
    assert np.allclose(house.shade(plotting.encoder_colors[1], 1.0), blue)
    assert np.allclose(house.shade(plotting.encoder_colors[1], 0.0), 1 - 0.3 * (1 - np.asarray(blue)))


def test_legend_keeps_each_entry_once_and_skips_hidden_ones():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([0, 1], label="enc1")
        ax.plot([0, 1], label="_hidden")
    axes[1].plot([0, 1], label="enc2")
    house.legend(fig, axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["enc1", "enc2"]
    assert house.level_text("redundancy", 4.0) == "redundancy = 4" and house.level_text(None, 1) == ""
    assert house.metric_label("align_cka") == "CKA" and house.metric_label("other") == "other"
