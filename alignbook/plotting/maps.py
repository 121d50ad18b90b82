"""Regime maps: heatmaps of a quantity (the gain of `lam*` over `lam = 0`, or `lam*` itself) over two
axes of a study, one panel per group (`plot_regime_map`), and the gain against the Bayes gap
(`plot_gain_vs_gap`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors

from alignbook.plotting import tables
from alignbook.plotting.house import (
    FIG_WIDTH,
    JOINT_COLOR,
    ROW_HEIGHT,
    encoder_colors,
    encoder_labels,
    level_text,
    metric_label,
    style,
)

GAIN_CMAP = "PuOr"  # diverging, colour-blind safe: orange below 0, purple above


def _grid_levels(frame: pd.DataFrame, column: str | None) -> list:
    return [None] if column is None else sorted(frame[column].unique())


def _tick_text(value) -> str:
    if isinstance(value, str):  # a named level, e.g. a dataset
        return value
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, (int, np.integer)) else f"{value:g}"


def plot_regime_map(frame, value: str = "gain", x: str = "n_train", y: str = "redundancy",
                    rows: str | None = "depth", cols: str | None = "encoder", low: str | None = "gain_low",
                    high: str | None = "gain_high", diverging: bool = True, fmt: str = "{:+.3f}",
                    label: str | None = None):
    """Heatmaps of `value` over (`x`, `y`), one panel per (`rows`, `cols`) level, each cell annotated.

    `frame` has one row per cell and panel (e.g. `analysis.optimal_lam` output with an `n_train` column).
    A cell shows `value` formatted with `fmt` and, when `low`/`high` are given, its interval below it (one
    end per line); an interval that excludes 0 is drawn in bold. `diverging` centres a diverging colour map
    on 0 (gains), else a sequential one (e.g. `lam*`). The `x` and `y` levels (numbers or names) are placed
    evenly, in sorted order.
    """
    needed = [value, x, y, *(c for c in (rows, cols, low, high) if c is not None)]
    frame = tables.check_frame("frame", frame, needed)
    tables.check_one_curve(frame, [c for c in (rows, cols, x, y) if c is not None], "frame")
    row_levels, col_levels = _grid_levels(frame, rows), _grid_levels(frame, cols)
    xs, ys = sorted(frame[x].unique()), sorted(frame[y].unique())
    values = frame[value].to_numpy(dtype=float)
    if diverging:
        span = float(np.nanmax(np.abs(values))) or 1.0
        norm = mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)
        cmap = GAIN_CMAP
    else:
        norm, cmap = mcolors.Normalize(vmin=float(np.nanmin(values)), vmax=float(np.nanmax(values))), None
    cell_height = 0.45 if low is None or high is None else 0.6  # inches: three lines of text need more
    with style():
        fig, axes = plt.subplots(len(row_levels), len(col_levels), squeeze=False,
                                 figsize=(FIG_WIDTH, 0.9 + cell_height * len(ys) * len(row_levels)),
                                 sharex=True, sharey=True)
        for i, row_level in enumerate(row_levels):
            for j, col_level in enumerate(col_levels):
                ax = axes[i][j]
                part = frame
                for column, level in ((rows, row_level), (cols, col_level)):
                    if column is not None:
                        part = part[part[column] == level]
                grid = np.full((len(ys), len(xs)), np.nan)
                for _, cell in part.iterrows():
                    grid[ys.index(cell[y]), xs.index(cell[x])] = cell[value]
                image = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", origin="lower")
                for _, cell in part.iterrows():
                    text = fmt.format(cell[value])
                    bold = False
                    if low is not None and high is not None:
                        # one end per line: a cell is too narrow for both on one line
                        text += f"\n[{fmt.format(cell[low])},\n{fmt.format(cell[high])}]"
                        bold = cell[low] > 0 or cell[high] < 0
                    red, green, blue, _ = image.cmap(image.norm(cell[value]))
                    dark = 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.45  # white text on dark cells
                    ax.text(xs.index(cell[x]), ys.index(cell[y]), text, ha="center", va="center",
                            fontsize=5.5, fontweight="bold" if bold else "normal",
                            color="white" if dark else "black")
                ax.grid(False)
                ax.set_xticks(range(len(xs)), [_tick_text(v) for v in xs], fontsize=7)
                ax.set_yticks(range(len(ys)), [_tick_text(v) for v in ys])
                title = " ".join(level_text(c, lv) for c, lv in ((rows, row_level), (cols, col_level))
                                 if c is not None)
                ax.set_title(title.replace("encoder = ", "enc"), fontsize=8)
                if i == len(row_levels) - 1:
                    ax.set_xlabel(x.replace("_", " "))
                if j == 0:
                    ax.set_ylabel(y)
        fig.colorbar(image, ax=axes, shrink=0.8, label=label or metric_label(value))
    return fig


def plot_gain_vs_gap(frame, gap: str = "gap", gain: str = "gain", size: str = "n_train",
                     marker_by: str = "depth"):
    """The gain of `lam*` over `lam = 0` against the Bayes gap at `lam = 0`, one point per case.

    Colour is the encoder, the marker the level of `marker_by`, the marker size grows with `size`;
    `gain_low`/`gain_high` draw vertical intervals when present. The dashed diagonal is gain = gap: no
    encoder can gain more than its distance to its Bayes bound.
    """
    frame = tables.check_frame("frame", frame, [gap, gain, "encoder", size, marker_by])
    markers = ["o", "s", "^", "D", "v", "P"]
    sizes = sorted(frame[size].unique())
    with style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH * 0.75, ROW_HEIGHT))
        for k, (level, part) in enumerate(frame.groupby(marker_by, sort=True)):
            for encoder, points in part.groupby("encoder", sort=True):
                color = encoder_colors.get(encoder, JOINT_COLOR)
                area = [12 + 50 * sizes.index(v) / max(len(sizes) - 1, 1) for v in points[size]]
                if "gain_low" in points.columns and "gain_high" in points.columns:
                    ax.vlines(points[gap], points["gain_low"], points["gain_high"], color=color,
                              linewidth=0.6, alpha=0.5)
                ax.scatter(points[gap], points[gain], s=area, color=color, marker=markers[k % len(markers)],
                           edgecolor="white", linewidth=0.4,
                           label=f"{encoder_labels.get(encoder, encoder)}, {level_text(marker_by, level)}")
        top = float(max(frame[gap].max(), frame[gain].max(), 0.01))
        ax.plot([0, top], [0, top], color=JOINT_COLOR, linestyle="--", linewidth=0.8)
        ax.axhline(0, color=JOINT_COLOR, linewidth=0.6)
        ax.set_xlabel(r"Bayes gap at $\lambda = 0$ (bound $-$ accuracy)")
        ax.set_ylabel(r"gain of $\lambda^*$ over $\lambda = 0$")
        ax.legend(loc="upper left", fontsize=7)
    return fig
