"""Where the best alignment strength lies: `lam*` against the measured redundancy, synthetic and real
cases together (`plot_lam_star_vs_redundancy`), and the trace of an automatic `lam` search
(`plot_search_trace`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from alignbook.checks import fail
from alignbook.plotting import tables
from alignbook.plotting.house import (
    FIG_WIDTH,
    JOINT_COLOR,
    LAM_LABEL,
    OKABE_ITO,
    ROW_HEIGHT,
    encoder_colors,
    encoder_labels,
    figsize,
    legend,
    shade,
    style,
)

KIND_MARKERS = {"synthetic": "o", "real": "s"}


def plot_lam_star_vs_redundancy(points, predictor=None, x: str = "redundancy_fraction"):
    """`lam*` with its interval against measured redundancy, one colour per encoder, one marker per kind.

    `points` is a DataFrame with columns `x` (default `redundancy_fraction`, R / I12), `encoder`,
    `lam_star`, optional `lam_low`/`lam_high`, `kind` ("synthetic" circles, "real" squares) and `label`
    (written beside real points). `predictor` (`analysis.LamPredictor` with feature "shared") adds its line.
    """
    points = tables.check_frame("points", points, [x, "encoder", "lam_star"])
    kinds = points["kind"] if "kind" in points.columns else pd.Series("synthetic", index=points.index)
    unknown = sorted(set(kinds) - set(KIND_MARKERS))
    if unknown:
        fail("points", f"kind must be one of {sorted(KIND_MARKERS)}, got {unknown}")
    with style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH * 0.7, ROW_HEIGHT))
        for (encoder, kind), part in points.assign(kind=kinds).groupby(["encoder", "kind"], sort=True):
            yerr = None
            if "lam_low" in part.columns and "lam_high" in part.columns:
                yerr = np.vstack([part["lam_star"] - part["lam_low"], part["lam_high"] - part["lam_star"]])
                yerr = np.clip(np.nan_to_num(yerr), 0, None)
            ax.errorbar(part[x], part["lam_star"], yerr=yerr, color=encoder_colors.get(encoder, JOINT_COLOR),
                        marker=KIND_MARKERS[kind], linestyle="none", capsize=2, elinewidth=0.8,
                        label=f"{encoder_labels.get(encoder, encoder)}, {kind}")
            if kind == "real" and "label" in part.columns:
                for _, row in part.iterrows():
                    ax.annotate(str(row["label"]), (row[x], row["lam_star"]), xytext=(4, 4),
                                textcoords="offset points", fontsize=7)
        if predictor is not None:
            grid = np.linspace(0, 1, 101)
            line = np.clip(predictor.intercept + predictor.slope * grid, predictor.lam_min, predictor.lam_max)
            ax.plot(grid, line, color=JOINT_COLOR, linestyle="--", linewidth=1.0, label="least-squares fit")
        ax.set_xlabel("redundancy fraction R / I12")
        ax.set_ylabel(r"optimal alignment strength $\lambda^*$")
        legend(fig, [ax], ncols=3)
    return fig


def plot_search_trace(history, grid_curve=None):
    """The evaluations of an automatic `lam` search, over the full-grid curve when given.

    `history` is an `analysis.LamSearchResult` or a list of `(lam, value, resource)`; points are shaded
    by resource (darker = more), numbered in the order evaluated, and the chosen `lam*` is a star.
    `grid_curve` is `(lams, values)` of a full grid, drawn as a grey line.
    """
    result = history if hasattr(history, "history") else None
    records = list(result.history if result is not None else history)
    if not records or any(len(r) != 3 for r in records):
        fail("history", "must be a LamSearchResult or a non-empty list of (lam, value, resource)")
    frame = pd.DataFrame(records, columns=["lam", "value", "resource"])
    resources = sorted(frame["resource"].unique())
    with style():
        fig, ax = plt.subplots(figsize=figsize(1))
        if grid_curve is not None:
            lams, values = (np.asarray(v, dtype=float) for v in grid_curve)
            ax.plot(lams, values, color="0.6", linewidth=1.0, marker=".", label="full grid")
        for rank, resource in enumerate(resources):
            part = frame[frame["resource"] == resource]
            fraction = rank / max(len(resources) - 1, 1)
            ax.scatter(part["lam"], part["value"], s=22, color=shade(encoder_colors[1], fraction),
                       edgecolors="black", linewidths=0.3, zorder=3, label=f"resource {resource:g}")
        for order, (lam, value) in enumerate(zip(frame["lam"], frame["value"], strict=True), start=1):
            ax.annotate(str(order), (lam, value), xytext=(3, 3), textcoords="offset points", fontsize=6)
        if result is not None:
            ax.plot([result.lam_star], [result.value], marker="*", markersize=12, color=OKABE_ITO["orange"],
                    markeredgecolor="black", linestyle="none", zorder=4, label=r"chosen $\lambda^*$")
        ax.set_xlabel(LAM_LABEL)
        ax.set_ylabel("validation accuracy")
        legend(fig, [ax])
    return fig
