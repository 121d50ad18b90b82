"""Shared by the figure tests: what every figure of the house style must satisfy, and a fixture that checks
matplotlib's global settings are left as they were (import it into a test module to apply it to every test
there). Figures are drawn off screen (Agg). Not a test module."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


def data_lines(ax) -> int:
    return len(ax.lines)


def assert_house_style(fig) -> None:
    """No figure title (captions live in the notebook); panel labels above their panel, legends clear of
    every panel, so neither covers data; a white background for dark pages."""
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig._suptitle is None
    assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for ax in panels:
        assert ax.get_title() == "" and ax.get_title(loc="right") == ""
        label = ax._left_title
        if label.get_text():
            assert label.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1 - 1, (
                f"panel label {label.get_text()!r} overlaps its panel")
    legends = [*fig.legends, *(ax.get_legend() for ax in panels if ax.get_legend() is not None)]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in panels:
            assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers a panel"


@pytest.fixture(autouse=True)
def rc_unchanged():
    """Every plotting call must leave matplotlib's global settings as they were."""
    before = dict(matplotlib.rcParams)
    yield
    after = dict(matplotlib.rcParams)
    changed = [k for k in before if repr(before[k]) != repr(after[k])]
    plt.close("all")
    assert not changed, f"rcParams changed: {changed}"
