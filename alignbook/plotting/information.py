"""What the data hold and how well it is estimated: raw samples (`plot_samples`), mutual information and
Bayes accuracies per level (`plot_info_table`), the partial information decomposition as stacked bars,
exact beside estimated (`plot_pid`), and the PID estimators' errors against the sample size
(`plot_estimator_errors`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from alignbook.checks import check_positive_int, check_same_rows, fail, to_numpy
from alignbook.plotting import tables
from alignbook.plotting.house import (
    JOINT_COLOR,
    OKABE_ITO,
    encoder_colors,
    figsize,
    legend,
    level_text,
    panel_label,
    panels,
    pid_colors,
    style,
)


def _as_level_frame(param: str, data, index_name: str) -> pd.DataFrame:
    """A mapping level -> {name: value} or a DataFrame (levels in `index_name` or the index) as a frame."""
    if isinstance(data, pd.DataFrame):
        frame = data.set_index(index_name) if index_name in data.columns else data
    elif isinstance(data, Mapping) and data:
        frame = pd.DataFrame.from_dict({k: dict(v) for k, v in data.items()}, orient="index")
    else:
        fail(param, "must be a non-empty mapping level -> {name: value} or a DataFrame")
    if frame.empty:
        fail(param, "is empty")
    return frame.sort_index()


def _bars(ax, frame: pd.DataFrame, columns: Sequence[str], colors: Sequence, labels: Sequence[str]) -> None:
    positions = np.arange(len(frame))
    width = 0.8 / len(columns)
    for i, (column, color, label) in enumerate(zip(columns, colors, labels, strict=True)):
        ax.bar(positions + (i - (len(columns) - 1) / 2) * width, frame[column].to_numpy(dtype=float), width,
               color=color, label=label)
    ax.set_xticks(positions, [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v)
                              for v in frame.index])


# accepted column names of the information table: the short name, or the key `synthetic.exact_info` uses
INFO_COLUMNS = {"I1": ("I1", "mi_x1_y"), "I2": ("I2", "mi_x2_y"), "I12": ("I12", "mi_x1x2_y"),
                "acc1": ("acc1", "bayes_acc_x1"), "acc2": ("acc2", "bayes_acc_x2"),
                "acc": ("acc", "bayes_acc")}


def plot_info_table(info_by_r, by: str = "redundancy"):
    """Two panels per redundancy level: mutual information I1, I2, I12 (nats) and Bayes accuracies.

    `info_by_r` maps each level to `{"I1", "I2", "I12", "acc1", "acc2", "acc"}` (Bayes accuracy from x1, x2,
    both; the names of `synthetic.exact_info` are accepted too), or is a DataFrame with those columns and
    `by`.
    """
    frame = _as_level_frame("info_by_r", info_by_r, by)
    chosen = {}
    for name, candidates in INFO_COLUMNS.items():
        column = next((c for c in candidates if c in frame.columns), None)
        if column is None:
            fail("info_by_r", f"missing {name!r} (accepted names: {', '.join(candidates)})")
        chosen[name] = column
    frame = frame.rename(columns={v: k for k, v in chosen.items()})
    palette = [encoder_colors[1], encoder_colors[2], JOINT_COLOR]
    with style():
        fig, (left, right) = plt.subplots(1, 2, figsize=figsize(1))
        _bars(left, frame, ["I1", "I2", "I12"], palette, ["$I(X_1;Y)$", "$I(X_2;Y)$", "$I(X_1,X_2;Y)$"])
        _bars(right, frame, ["acc1", "acc2", "acc"], palette, ["from x1", "from x2", "from both"])
        left.set_ylabel("mutual information (nats)")
        right.set_ylabel("Bayes accuracy")
        for panel in (left, right):
            panel.set_xlabel(by)
        legend(fig, [right])  # one colour per source in both panels
        right.set_ylim(0, 1.0)
    return fig


def plot_pid(pid_by_level, estimated=None, by: str = "redundancy", unit: str = "nats"):
    """Stacked bars of the information decomposition R, U1, U2, S per level.

    `pid_by_level` maps each level to `{"R", "U1", "U2", "S"}` (or is a DataFrame with those columns and
    `by`). `estimated`, in the same form, draws hatched bars beside the exact ones; optional columns
    `R_err`, `U1_err`, ... add error bars at the top of each segment.
    """
    parts = ("R", "U1", "U2", "S")
    exact = _as_level_frame("pid_by_level", pid_by_level, by)
    missing = [p for p in parts if p not in exact.columns]
    if missing:
        fail("pid_by_level", f"missing part(s) {missing}")
    frames = [(exact, None)]
    if estimated is not None:
        estimated = _as_level_frame("estimated", estimated, by)
        missing = [p for p in parts if p not in estimated.columns]
        if missing:
            fail("estimated", f"missing part(s) {missing}")
        frames.append((estimated.reindex(exact.index), "///"))
    positions = np.arange(len(exact))
    width = 0.8 / len(frames)
    with style():
        fig, ax = plt.subplots(figsize=figsize(1))
        for i, (frame, hatch) in enumerate(frames):
            x = positions + (i - (len(frames) - 1) / 2) * width
            bottom = np.zeros(len(frame))
            for part in parts:
                height = frame[part].to_numpy(dtype=float)
                ax.bar(x, height, width, bottom=bottom, color=pid_colors[part], hatch=hatch,
                       edgecolor="white", linewidth=0.5, label=part if i == 0 else None)
                if f"{part}_err" in frame.columns:
                    ax.errorbar(x, bottom + height, yerr=frame[f"{part}_err"].to_numpy(dtype=float),
                                fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
                bottom = bottom + np.nan_to_num(height)
        if estimated is not None:  # a legend entry for the hatching
            ax.bar([np.nan], [np.nan], color="white", edgecolor="black", hatch="///", label="estimated")
        ax.set_xticks(positions, [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v)
                                  for v in exact.index])
        ax.set_xlabel(by)
        ax.set_ylabel(f"information ({unit})")
        legend(fig, [ax])
    return fig


def plot_samples(x1, x2, y, n: int = 3):
    """Heatmaps of raw examples: `n` per class (the first of each), x1 on the left and x2 on the right.

    Rows are examples grouped by class (labelled on the left); columns are features (flattened). One
    shared colour scale.
    """
    n = check_positive_int("n", n)
    x1 = np.asarray(to_numpy("x1", x1), dtype=float)
    x2 = np.asarray(to_numpy("x2", x2), dtype=float)
    y = np.asarray(to_numpy("y", y)).ravel()
    check_same_rows(x1=x1, x2=x2, y=y)
    classes = np.unique(y)
    chosen = np.concatenate([np.flatnonzero(y == c)[:n] for c in classes])
    rows_of = [int(min(n, np.count_nonzero(y == c))) for c in classes]
    x1, x2 = x1[chosen].reshape(len(chosen), -1), x2[chosen].reshape(len(chosen), -1)
    low = min(np.nanmin(x1), np.nanmin(x2))
    high = max(np.nanmax(x1), np.nanmax(x2))
    with style():
        fig, axes = plt.subplots(1, 2, figsize=figsize(1))
        for panel, x, name in zip(axes, (x1, x2), ("x1", "x2"), strict=True):
            image = panel.imshow(x, aspect="auto", interpolation="nearest", vmin=low, vmax=high)
            panel.grid(False)
            starts = np.cumsum([0, *rows_of[:-1]])
            for start in starts[1:]:
                panel.axhline(start - 0.5, color="white", linewidth=1.5)
            panel.set_yticks(starts + (np.asarray(rows_of) - 1) / 2, [f"y = {c}" for c in classes])
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))
            panel.set_xlabel(f"feature of {name} (index)")
        fig.colorbar(image, ax=list(axes), label="feature value (standardised)")
    return fig


# estimators of the information decomposition, beyond the encoders' and metrics' colours
estimator_colors = {"kmeans": OKABE_ITO["black"], "codes/none": OKABE_ITO["green"],
                    "codes/miller-madow": OKABE_ITO["orange"], "codes/split": OKABE_ITO["sky"],
                    "batch": OKABE_ITO["purple"]}


def plot_estimator_errors(summary, target: float | None = None, by: str = "depth"):
    """Mean absolute error over the parts R, U1, U2, S against the number of samples, one line per
    estimator, one panel per value of `by`.

    `summary` has columns `estimator`, `n_samples`, `by` and `mae_R`, `mae_U1`, `mae_U2`, `mae_S` (as
    `chapters.pid_validation.validation_summary` returns); `target` draws a dashed horizontal line.
    """
    parts = ["mae_R", "mae_U1", "mae_U2", "mae_S"]
    frame = tables.check_frame("summary", summary, ["estimator", "n_samples", *parts])
    levels = tables.levels(frame, by, "summary")
    with style():
        fig, axes = panels(len(levels), len(levels), sharey=True)
        for ax, level in zip(axes, levels, strict=True):
            part = tables.at_level(frame, by, level)
            for name in sorted(part["estimator"].unique(), key=str):
                rows = part[part["estimator"] == name].sort_values("n_samples")
                ax.plot(rows["n_samples"], rows[parts].mean(axis=1), marker="o",
                        color=estimator_colors.get(name, JOINT_COLOR), label=name)
            if target is not None:
                ax.axhline(target, color=JOINT_COLOR, linestyle="--", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_xlabel("samples")
            panel_label(ax, level_text(by, level))
        axes[0].set_ylabel("mean absolute error (nats)")
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
