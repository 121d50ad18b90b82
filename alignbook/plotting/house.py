"""The house style every figure of the book is drawn in: colours, sizes, `style()` and the panel helpers.

Style: one colour per encoder (`encoder_colors`, from the Okabe-Ito palette, safe for colour-blind readers)
used in every figure; no figure titles (captions live in the notebooks), each panel named by a small label
above it (`panel_label`); legends outside the panels, above them, so they never cover data (`legend`);
labelled axes with units (`metric_label`); a thin grid; constrained layout; an opaque white background, so
figures stay legible on a dark page; text kept as text in SVG output. A book column is 6.5 inches wide,
about 3.5 inches per row of panels; `panels` draws figures of three or more panels 10 inches wide, for the
page's full width (cells tagged `full-width`).

Importing this module changes nothing: the style is applied only inside `style()`, which every figure
function enters while it builds its figure, and the matplotlib backend is never touched.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

# Okabe & Ito (2008) colour-blind-safe palette
OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "green": "#009E73", "orange": "#E69F00",
             "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000"}
encoder_colors = {1: OKABE_ITO["blue"], 2: OKABE_ITO["vermillion"]}
encoder_labels = {1: "enc1", 2: "enc2"}
# the pair (both modalities together) and anything not tied to one encoder
JOINT_COLOR = "#555555"
# alignment metrics: colours distinct from the encoders'
metric_colors = {"align_mutual_knn": OKABE_ITO["green"], "align_cka": OKABE_ITO["orange"],
                 "align_cka_unbiased": OKABE_ITO["sky"], "align_cknna": OKABE_ITO["purple"],
                 "align_svcca": OKABE_ITO["black"]}
metric_labels = {"acc": "test accuracy", "val_acc": "validation accuracy", "loss": "test loss",
                 "align_mutual_knn": "mutual k-NN", "align_cka": "CKA",
                 "align_cka_unbiased": "CKA (unbiased)", "align_cknna": "CKNNA", "align_svcca": "SVCCA"}
# PID parts: the unique parts take their encoder's colour
pid_colors = {"R": OKABE_ITO["green"], "U1": encoder_colors[1], "U2": encoder_colors[2],
              "S": OKABE_ITO["purple"]}
LAM_LABEL = r"alignment strength $\lambda$"
FIG_WIDTH = 6.5  # inches: one book column
WIDE_WIDTH = 10.0  # inches: the page's full width, for figures of three or more panels
ROW_HEIGHT = 3.5  # inches for a single row of panels
GRID_ROW_HEIGHT = 2.6  # inches per row when panels wrap onto several rows

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "figure.constrained_layout.use": True,
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "image.cmap": "cividis",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.fonttype": "none",
}


@contextmanager
def style():
    """Apply the house style inside a `with` block; the settings it changed are restored on exit.

    Only the style's own keys are restored (not all of rcParams, as `plt.rc_context` does): restoring
    `interactive` would undo the inline backend that a notebook activates on its first figure.
    """
    saved = {key: plt.rcParams[key] for key in STYLE}
    plt.rcParams.update(STYLE)
    try:
        yield
    finally:
        plt.rcParams.update(saved)


def figsize(rows: int, width: float = FIG_WIDTH) -> tuple[float, float]:
    """(width, height) in inches of a figure with `rows` rows of panels."""
    return (width, ROW_HEIGHT if rows == 1 else GRID_ROW_HEIGHT * rows)


def panels(n: int, ncols: int, sharey: bool = False, sharex: bool = False):
    """A figure with `n` panels on a grid of `ncols` columns; unused cells are removed. Three or more
    panels take the page's full width."""
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    width = WIDE_WIDTH if n >= 3 else FIG_WIDTH
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize(nrows, width), sharey=sharey, sharex=sharex,
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def metric_label(metric: str) -> str:
    """The axis label of a results column (`metric_labels`), or the column's name."""
    return metric_labels.get(metric, metric)


def level_text(by: str | None, level) -> str:
    """`by = level`, the name of a panel or legend entry; empty without `by`."""
    if by is None:
        return ""
    value = f"{level:g}" if isinstance(level, (int, float, np.integer, np.floating)) else str(level)
    return f"{by} = {value}"


def panel_label(ax, text: str) -> None:
    """A small label above the panel's left corner, outside the data (the caption lives in the notebook)."""
    if text:
        ax.set_title(text, loc="left", fontsize=8)


def legend(fig, axes, ncols: int | None = None) -> None:
    """One legend for the figure, above its panels, with every distinct entry of `axes`."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels and not label.startswith("_"):
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=ncols or min(len(labels), 6))


def dodge(lams, rank: int, count: int) -> np.ndarray:
    """`lam` values shifted a little per curve (`rank` of `count`), so the error bars of curves drawn at
    the same `lam` sit side by side instead of on top of each other."""
    lams = np.asarray(lams, dtype=float)
    steps = np.diff(np.unique(lams))
    width = 0.3 * (steps.min() if len(steps) else 1.0)
    return lams + (rank - (count - 1) / 2) * width / max(count, 1)


def shade(color: str, fraction: float) -> tuple:
    """The colour mixed with white: fraction 0 is pale, 1 the full colour (lighter = smaller lam)."""
    rgb = np.asarray(mcolors.to_rgb(color))
    return tuple(1 - (0.3 + 0.7 * fraction) * (1 - rgb))
