"""Every figure of the book, in one house style.

Style: one colour per encoder (`encoder_colors`, from the Okabe-Ito palette, safe for colour-blind readers)
used in every figure; no figure titles (captions live in the notebooks), each panel named by a small label
above it; legends outside the panels, above them, so they never cover data; labelled axes with units; a thin
grid; constrained layout; an opaque white background, so figures stay legible on a dark page; text kept as
text in SVG output. A book column is 6.5 inches wide, about 3.5 inches per row of panels; figures of three
or more panels are drawn 10 inches wide for the page's full width (cells tagged `full-width`).

Importing this module changes nothing: the style is applied only inside `style()`, which every function
here enters while it builds its figure, and the matplotlib backend is never touched. Every function returns
the `Figure` it drew on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.ticker import MaxNLocator

from alignbook.checks import check_positive_int, check_same_rows, fail, to_numpy

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


def _figsize(rows: int, width: float = FIG_WIDTH) -> tuple[float, float]:
    return (width, ROW_HEIGHT if rows == 1 else GRID_ROW_HEIGHT * rows)


def _panels(n: int, ncols: int, sharey: bool = False, sharex: bool = False):
    """A figure with `n` panels on a grid of `ncols` columns; unused cells are removed. Three or more
    panels take the page's full width."""
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    width = WIDE_WIDTH if n >= 3 else FIG_WIDTH
    fig, axes = plt.subplots(nrows, ncols, figsize=_figsize(nrows, width), sharey=sharey, sharex=sharex,
                             squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _label(metric: str) -> str:
    return metric_labels.get(metric, metric)


def _check_frame(param: str, frame, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        fail(param, f"must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        fail(param, f"missing column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        fail(param, "is empty")
    return frame


def _levels(frame: pd.DataFrame, by: str | None, param: str) -> list:
    if by is None:
        return [None]
    if by not in frame.columns:
        fail("by", f"is not a column of {param}: {by!r}")
    return sorted(frame[by].dropna().unique())


def _at_level(frame: pd.DataFrame, by: str | None, level) -> pd.DataFrame:
    return frame if by is None else frame[frame[by] == level]


def _level_text(by: str | None, level) -> str:
    if by is None:
        return ""
    value = f"{level:g}" if isinstance(level, (int, float, np.integer, np.floating)) else str(level)
    return f"{by} = {value}"


def _panel_label(ax, text: str) -> None:
    """A small label above the panel's left corner, outside the data (the caption lives in the notebook)."""
    if text:
        ax.set_title(text, loc="left", fontsize=8)


def _legend(fig, axes, ncols: int | None = None) -> None:
    """One legend for the figure, above its panels, with every distinct entry of `axes`."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels and not label.startswith("_"):
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=ncols or min(len(labels), 6))


def _dodge(lams, rank: int, count: int) -> np.ndarray:
    """`lam` values shifted a little per curve (`rank` of `count`), so the error bars of curves drawn at
    the same `lam` sit side by side instead of on top of each other."""
    lams = np.asarray(lams, dtype=float)
    steps = np.diff(np.unique(lams))
    width = 0.3 * (steps.min() if len(steps) else 1.0)
    return lams + (rank - (count - 1) / 2) * width / max(count, 1)


def lam_curve_limits(summary, by: str | None = "redundancy", bounds=None, margin: float = 0.04) -> dict:
    """Vertical limits per level of `by` that hold every curve of `summary` (all its other groups, such
    as depths, together), their intervals and the `bounds`: pass them as `ylim` to figures that the
    reader compares, so their panels share a scale."""
    summary = _check_frame("summary", summary, ["encoder", "lam", "mean"])
    limits = {}
    for level in _levels(summary, by, "summary"):
        part = _at_level(summary, by, level)
        values = [part["mean"].to_numpy(dtype=float)]
        for column in ("ci_low", "ci_high"):
            if column in part.columns:
                values.append(part[column].to_numpy(dtype=float))
        for encoder in part["encoder"].unique():
            bound = _per_level(bounds, level, encoder)
            if bound is not None:
                values.append(np.array([bound]))
        values = np.concatenate(values)
        low, high = np.nanmin(values), np.nanmax(values)
        pad = margin * max(high - low, 1e-3)
        limits[level] = (float(low - pad), float(high + pad))
    return limits


def _per_level(value, level, encoder=None):
    """Look up an optional per-level (and per-encoder) value: a number, or mappings of level / encoder."""
    if value is None:
        return None
    if isinstance(value, Mapping) and level in value:
        value = value[level]
    if isinstance(value, Mapping):
        if encoder is None:
            return None
        value = value.get(encoder)
    return None if value is None else float(value)


def _yerr(part: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars from `ci_low`/`ci_high`; NaN intervals (single seed) draw no bar."""
    if "ci_low" not in part.columns or "ci_high" not in part.columns:
        return None
    mean = part["mean"].to_numpy(dtype=float)
    low = np.nan_to_num(mean - part["ci_low"].to_numpy(dtype=float), nan=0.0)
    high = np.nan_to_num(part["ci_high"].to_numpy(dtype=float) - mean, nan=0.0)
    return np.vstack([low, high])


def _select_metric(summary: pd.DataFrame, metric: str, param: str) -> pd.DataFrame:
    if "metric" in summary.columns:
        chosen = summary[summary["metric"] == metric]
        if chosen.empty:
            fail("metric", f"{metric!r} is not in {param}; it holds {sorted(summary['metric'].unique())}")
        return chosen
    return summary


def _check_one_curve(frame: pd.DataFrame, keys: list[str], param: str) -> None:
    duplicated = frame.duplicated(subset=keys)
    if duplicated.any():
        fail(param, f"has several rows per ({', '.join(keys)}): pick one group (filter the table) or "
                    "pass the column that separates them as `by`")


# --------------------------------------------------------------------------------------------------------
# lam sweeps


def plot_lam_curves(summary, metric: str = "acc", by: str | None = "redundancy", ax=None, bounds=None,
                    lam_star=None, sharey: bool = True, ncols: int = 3, ylim=None):
    """Seed-mean `metric` against `lam`, one panel per level of `by`, error bars from `ci_low`/`ci_high`.

    `summary` is `analysis.curve_summary` output (columns encoder, lam, mean, optional ci_low/ci_high and
    metric). `bounds` draws dashed horizontal lines in each encoder's colour (e.g. Bayes accuracy): a number
    for all panels, `{encoder: value}`, or `{level: {encoder: value}}`. `lam_star` (`analysis.optimal_lam`
    output) marks each encoder's optimum with a triangle and shades its interval. `ax` draws a single
    panel (`by=None` or one level) into an existing axes. `ylim` fixes the vertical limits: `(low, high)`
    for every panel or `{level: (low, high)}` (see `lam_curve_limits`); panels then keep their own axes.
    The two encoders' points are set a little apart along `lam` so their error bars do not overlap.
    """
    summary = _check_frame("summary", summary, ["encoder", "lam", "mean"])
    summary = _select_metric(summary, metric, "summary")
    levels = _levels(summary, by, "summary")
    _check_one_curve(summary, [*([by] if by else []), "encoder", "lam"], "summary")
    if lam_star is not None:
        lam_star = _check_frame("lam_star", lam_star, ["encoder", "lam_star"])
    with style():
        if ax is not None:
            if len(levels) != 1:
                fail("ax", f"draws one panel, but summary has {len(levels)} levels of {by!r}")
            fig, axes = ax.figure, [ax]
        else:
            fig, axes = _panels(len(levels), ncols, sharey=sharey and ylim is None)
        for panel, level in zip(axes, levels, strict=True):
            part = _at_level(summary, by, level)
            encoders = sorted(part["encoder"].unique())
            for encoder, curve in part.groupby("encoder", sort=True):
                curve = curve.sort_values("lam")
                color = encoder_colors.get(encoder, JOINT_COLOR)
                x = _dodge(curve["lam"], encoders.index(encoder), len(encoders))
                panel.errorbar(x, curve["mean"], yerr=_yerr(curve), color=color, marker="o",
                               capsize=0, elinewidth=0.8, label=encoder_labels.get(encoder, str(encoder)))
                bound = _per_level(bounds, level, encoder)
                if bound is not None:
                    panel.axhline(bound, color=color, linestyle="--", linewidth=0.9)
                if lam_star is not None:
                    _mark_lam_star(panel, _at_level(lam_star, by if by in lam_star.columns else None, level),
                                   encoder, curve, color)
            _panel_label(panel, _level_text(by, level))
            panel.set_xlabel(LAM_LABEL)
            limits = ylim.get(level) if isinstance(ylim, Mapping) else ylim
            if limits is not None:
                panel.set_ylim(*limits)
        for panel in axes:
            if panel.get_subplotspec() is None or panel.get_subplotspec().is_first_col():
                panel.set_ylabel(_label(metric))
        if ax is None:
            _legend(fig, axes)
        else:
            ax.legend(loc="best")
    return fig


def _mark_lam_star(ax, rows: pd.DataFrame, encoder, curve: pd.DataFrame, color: str) -> None:
    rows = rows[rows["encoder"] == encoder]
    if rows.empty:
        return
    row = rows.iloc[0]
    if "lam_low" in rows.columns and "lam_high" in rows.columns and row["lam_high"] > row["lam_low"]:
        ax.axvspan(row["lam_low"], row["lam_high"], color=color, alpha=0.12, linewidth=0)
    at = curve.loc[(curve["lam"] - row["lam_star"]).abs().idxmin(), "mean"]
    ax.plot([row["lam_star"]], [at], marker="v", markersize=8, color=color, linestyle="none",
            markeredgecolor="white")


def plot_alignment_curves(summary, metrics=("align_mutual_knn", "align_cka", "align_svcca"),
                          by: str | None = "redundancy", chance=None, ncols: int = 3):
    """Alignment metrics against `lam`, one panel per level of `by`, one colour per metric.

    `summary` holds `curve_summary` rows of several metrics (its `metric` column tells them apart; concatenate
    one summary per metric). Alignment belongs to the pair, so when both encoders' rows are present only
    the first encoder's are drawn. `chance` draws dotted lines at chance level: `{metric: value}` or
    `{metric: {level: value}}` (e.g. the seed means of the table's `chance_<metric>` columns).
    """
    summary = _check_frame("summary", summary, ["lam", "mean", "metric"])
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        fail("metrics", "must name at least one metric")
    absent = [m for m in metrics if m not in set(summary["metric"])]
    if absent:
        fail("metrics", f"not in summary: {absent}; it holds {sorted(summary['metric'].unique())}")
    if "encoder" in summary.columns:
        summary = summary[summary["encoder"] == summary["encoder"].min()]
    levels = _levels(summary, by, "summary")
    _check_one_curve(summary, [*([by] if by else []), "metric", "lam"], "summary")
    with style():
        fig, axes = _panels(len(levels), ncols, sharey=True)
        for panel, level in zip(axes, levels, strict=True):
            part = _at_level(summary, by, level)
            for rank, metric in enumerate(metrics):
                curve = part[part["metric"] == metric].sort_values("lam")
                color = metric_colors.get(metric, JOINT_COLOR)
                x = _dodge(curve["lam"], rank, len(metrics))
                panel.errorbar(x, curve["mean"], yerr=_yerr(curve), color=color, marker="o",
                               capsize=0, elinewidth=0.8, label=_label(metric))
                level_chance = (chance or {}).get(metric)
                if isinstance(level_chance, Mapping):
                    level_chance = level_chance.get(level)
                if level_chance is not None:
                    panel.axhline(float(level_chance), color=color, linestyle=":", linewidth=1.0)
            _panel_label(panel, _level_text(by, level))
            panel.set_xlabel(LAM_LABEL)
            if panel.get_subplotspec().is_first_col():
                panel.set_ylabel("alignment score")
        _legend(fig, axes)
    return fig


# --------------------------------------------------------------------------------------------------------
# training histories

# keys tried, in order, in each epoch's record of `FitResult.history` (`training.single` writes the first)
HISTORY_KEYS = {"task1": "train_task1", "task2": "train_task2", "align": "train_align", "val1": "val_acc1",
                "val2": "val_acc2"}


def _series(history: list[dict], quantity: str):
    """(epochs, values) of one quantity from a run's history, or None when no record has a finite value.

    (The alignment loss is NaN at `lam = 0`: there is nothing to draw.)
    """
    key = HISTORY_KEYS[quantity]
    if not any(key in record for record in history):
        return None
    epochs = [record.get("epoch", i) for i, record in enumerate(history) if key in record]
    values = np.asarray([record[key] for record in history if key in record], dtype=float)
    return (np.asarray(epochs, dtype=float), values) if np.isfinite(values).any() else None


def _shade(color: str, fraction: float) -> tuple:
    """The colour mixed with white: fraction 0 is pale, 1 the full colour (lighter = smaller lam)."""
    rgb = np.asarray(mcolors.to_rgb(color))
    return tuple(1 - (0.3 + 0.7 * fraction) * (1 - rgb))


def plot_learning_curves(history_by_lam: Mapping):
    """Task loss, alignment loss and validation accuracy against epoch, one line per `lam` (and encoder).

    `history_by_lam` maps each `lam` to a run's history (a list of one dict per epoch, as in
    `FitResult.history`; the keys read are in `HISTORY_KEYS`). Each encoder keeps its colour; lighter shades
    are smaller `lam`. Three panels: task loss, alignment loss, validation accuracy.
    """
    if not isinstance(history_by_lam, Mapping) or not history_by_lam:
        fail("history_by_lam", "must be a non-empty mapping lam -> list of per-epoch dicts")
    lams = sorted(history_by_lam)
    for lam in lams:
        if not isinstance(history_by_lam[lam], Sequence) or not history_by_lam[lam]:
            fail("history_by_lam", f"history of lam={lam!r} must be a non-empty list of dicts")
    found = {q for q in HISTORY_KEYS for lam in lams if _series(history_by_lam[lam], q) is not None}
    if not found:
        fail("history_by_lam", f"no known key in the histories; expected some of "
                               f"{sorted(HISTORY_KEYS.values())}")
    with style():
        fig, axes = _panels(3, 3)
        for rank, lam in enumerate(lams):
            fraction = rank / max(len(lams) - 1, 1)
            history = history_by_lam[lam]
            for panel, prefix in ((axes[0], "task"), (axes[2], "val")):
                for encoder in (1, 2):
                    series = _series(history, f"{prefix}{encoder}")
                    if series is not None:
                        label = encoder_labels[encoder] if rank == len(lams) - 1 else None
                        panel.plot(*series, color=_shade(encoder_colors[encoder], fraction), label=label)
            series = _series(history, "align")
            if series is not None:
                axes[1].plot(*series, color=_shade(JOINT_COLOR, fraction), label=f"$\\lambda$ = {lam:g}")
        for panel, ylabel in zip(axes, ("task loss (train)", "alignment loss (InfoNCE, nats)",
                                        "validation accuracy"), strict=True):
            panel.set_xlabel("epoch")
            panel.set_ylabel(ylabel)
        _legend(fig, axes, ncols=min(len(lams) + 2, 8))
    return fig


# --------------------------------------------------------------------------------------------------------
# representations


def pca_2d(z) -> tuple[np.ndarray, np.ndarray]:
    """Projection of the rows of `z` (n, d) on their first two principal components, and the share of the
    variance each explains, by scikit-learn's `PCA` (full SVD).

    Deterministic: scikit-learn fixes each component's sign so that its largest-magnitude loading is
    positive. With one feature the second axis is flat (zeros, share 0).
    """
    from sklearn.decomposition import PCA

    z = np.asarray(to_numpy("z", z), dtype=float)
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        fail("z", f"must be a 2-D array (samples x features) with at least 2 rows, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        fail("z", "contains non-finite values (NaN or inf)")
    n_components = min(2, z.shape[1])
    if not np.any(z != z[0]):  # constant rows: no direction has variance
        return np.zeros((len(z), 2)), np.zeros(2)
    pca = PCA(n_components=n_components, svd_solver="full")
    projected, shares = pca.fit_transform(z), pca.explained_variance_ratio_
    if n_components == 1:
        projected = np.column_stack([projected, np.zeros(len(projected))])
        shares = np.append(shares, 0.0)
    return projected, shares


def _class_colors(n: int) -> list:
    palette = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "sky", "purple", "yellow",
                                      "black")]
    if n <= len(palette):
        return palette[:n]
    return [plt.get_cmap("cividis")(v) for v in np.linspace(0, 1, n)]


def plot_embedding_2d(z, y, ax=None, method: str = "pca", max_points: int = 2000, seed: int = 0):
    """Scatter of a 2-D projection of representations `z`, coloured by class `y`.

    `method="pca"` (the only one: deterministic, linear, honest about distances). At most `max_points`
    examples are drawn, a subsample chosen with `numpy.random.default_rng(seed)`.
    """
    if method != "pca":
        fail("method", f"only 'pca' is supported, got {method!r}")
    max_points = check_positive_int("max_points", max_points)
    z = np.asarray(to_numpy("z", z))
    y = np.asarray(to_numpy("y", y)).ravel()
    check_same_rows(z=z, y=y)
    projected, shares = pca_2d(z.reshape(len(z), -1))
    if len(y) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_points, replace=False))
        projected, y = projected[keep], y[keep]
    with style():
        if ax is None:
            fig, ax = plt.subplots(figsize=(FIG_WIDTH / 2, ROW_HEIGHT))
        fig = ax.figure
        classes = np.unique(y)
        for cls, color in zip(classes, _class_colors(len(classes)), strict=True):
            chosen = y == cls
            ax.scatter(projected[chosen, 0], projected[chosen, 1], s=4, color=color, alpha=0.6,
                       linewidths=0, label=f"y = {cls}", rasterized=True)
        ax.set_xlabel(f"PC 1 ({100 * shares[0]:.0f} % of variance)")
        ax.set_ylabel(f"PC 2 ({100 * shares[1]:.0f} % of variance)")
    return fig


def plot_representations(z1_before, z2_before, z1_after, z2_after, y, lam_after: float | None = None,
                         max_points: int = 2000, seed: int = 0):
    """A 2 x 2 grid: rows enc1 / enc2, columns before (lam = 0) / after alignment, PCA coloured by class."""
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(FIG_WIDTH, 2 * GRID_ROW_HEIGHT + 0.6))
        after = "after" if lam_after is None else f"$\\lambda$ = {lam_after:g}"
        grid = ((z1_before, z1_after), (z2_before, z2_after))
        for row, (encoder, (before, aligned)) in enumerate(zip((1, 2), grid, strict=True)):
            for col, (z, when) in enumerate(((before, "before"), (aligned, after))):
                panel = axes[row, col]
                plot_embedding_2d(z, y, ax=panel, max_points=max_points, seed=seed)
                _panel_label(panel, f"{encoder_labels[encoder]}, {when}")
                for spine in ("left", "bottom"):
                    panel.spines[spine].set_color(encoder_colors[encoder])
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 10), markerscale=3)
    return fig


# --------------------------------------------------------------------------------------------------------
# information


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
        fig, (left, right) = plt.subplots(1, 2, figsize=_figsize(1))
        _bars(left, frame, ["I1", "I2", "I12"], palette, ["$I(X_1;Y)$", "$I(X_2;Y)$", "$I(X_1,X_2;Y)$"])
        _bars(right, frame, ["acc1", "acc2", "acc"], palette, ["from x1", "from x2", "from both"])
        left.set_ylabel("mutual information (nats)")
        right.set_ylabel("Bayes accuracy")
        for panel in (left, right):
            panel.set_xlabel(by)
        _legend(fig, [right])  # one colour per source in both panels
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
        fig, ax = plt.subplots(figsize=_figsize(1))
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
        _legend(fig, [ax])
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
        fig, axes = plt.subplots(1, 2, figsize=_figsize(1))
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


# --------------------------------------------------------------------------------------------------------
# lam*: against redundancy, and the automatic search

KIND_MARKERS = {"synthetic": "o", "real": "s"}


def plot_lam_star_vs_redundancy(points, predictor=None, x: str = "redundancy_fraction"):
    """`lam*` with its interval against measured redundancy, one colour per encoder, one marker per kind.

    `points` is a DataFrame with columns `x` (default `redundancy_fraction`, R / I12), `encoder`,
    `lam_star`, optional `lam_low`/`lam_high`, `kind` ("synthetic" circles, "real" squares) and `label`
    (written beside real points). `predictor` (`analysis.LamPredictor` with feature "shared") adds its line.
    """
    points = _check_frame("points", points, [x, "encoder", "lam_star"])
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
        _legend(fig, [ax], ncols=3)
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
        fig, ax = plt.subplots(figsize=_figsize(1))
        if grid_curve is not None:
            lams, values = (np.asarray(v, dtype=float) for v in grid_curve)
            ax.plot(lams, values, color="0.6", linewidth=1.0, marker=".", label="full grid")
        for rank, resource in enumerate(resources):
            part = frame[frame["resource"] == resource]
            fraction = rank / max(len(resources) - 1, 1)
            ax.scatter(part["lam"], part["value"], s=22, color=_shade(encoder_colors[1], fraction),
                       edgecolors="black", linewidths=0.3, zorder=3, label=f"resource {resource:g}")
        for order, (lam, value) in enumerate(zip(frame["lam"], frame["value"], strict=True), start=1):
            ax.annotate(str(order), (lam, value), xytext=(3, 3), textcoords="offset points", fontsize=6)
        if result is not None:
            ax.plot([result.lam_star], [result.value], marker="*", markersize=12, color=OKABE_ITO["orange"],
                    markeredgecolor="black", linestyle="none", zorder=4, label=r"chosen $\lambda^*$")
        ax.set_xlabel(LAM_LABEL)
        ax.set_ylabel("validation accuracy")
        _legend(fig, [ax])
    return fig


# --------------------------------------------------------------------------------------------------------
# regime maps

GAIN_CMAP = "PuOr"  # diverging, colour-blind safe: orange below 0, purple above
# what a latent bit is to the encoder probed (`plot_probes`)
ROLE_COLORS = {"shared, in label": OKABE_ITO["green"], "shared, not in label": OKABE_ITO["sky"],
               "own unique, in label": OKABE_ITO["vermillion"],
               "own unique, not in label": OKABE_ITO["orange"], "other's unique": OKABE_ITO["black"]}


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
    frame = _check_frame("frame", frame, needed)
    _check_one_curve(frame, [c for c in (rows, cols, x, y) if c is not None], "frame")
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
                title = " ".join(_level_text(c, lv) for c, lv in ((rows, row_level), (cols, col_level))
                                 if c is not None)
                ax.set_title(title.replace("encoder = ", "enc"), fontsize=8)
                if i == len(row_levels) - 1:
                    ax.set_xlabel(x.replace("_", " "))
                if j == 0:
                    ax.set_ylabel(y)
        fig.colorbar(image, ax=axes, shrink=0.8, label=label or _label(value))
    return fig


def plot_gain_vs_gap(frame, gap: str = "gap", gain: str = "gain", size: str = "n_train",
                     marker_by: str = "depth"):
    """The gain of `lam*` over `lam = 0` against the Bayes gap at `lam = 0`, one point per case.

    Colour is the encoder, the marker the level of `marker_by`, the marker size grows with `size`;
    `gain_low`/`gain_high` draw vertical intervals when present. The dashed diagonal is gain = gap: no
    encoder can gain more than its distance to its Bayes bound.
    """
    frame = _check_frame("frame", frame, [gap, gain, "encoder", size, marker_by])
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
                           label=f"{encoder_labels.get(encoder, encoder)}, {_level_text(marker_by, level)}")
        top = float(max(frame[gap].max(), frame[gain].max(), 0.01))
        ax.plot([0, top], [0, top], color=JOINT_COLOR, linestyle="--", linewidth=0.8)
        ax.axhline(0, color=JOINT_COLOR, linewidth=0.6)
        ax.set_xlabel(r"Bayes gap at $\lambda = 0$ (bound $-$ accuracy)")
        ax.set_ylabel(r"gain of $\lambda^*$ over $\lambda = 0$")
        ax.legend(loc="upper left", fontsize=7)
    return fig


def plot_probes(summary, by: str = "redundancy", ncols: int | None = None):
    """Linear-probe accuracy of each encoder's representation for the latent bits, against `lam`.

    `summary` has columns `by`, encoder, role (what the bits are to that encoder: `ROLE_COLORS` keys), lam,
    mean and optional ci_low/ci_high. One row of panels per encoder, one column per level of `by`; the
    dotted line is chance (0.5).
    """
    summary = _check_frame("summary", summary, [by, "encoder", "role", "lam", "mean"])
    levels = sorted(summary[by].unique())
    encoders = sorted(summary["encoder"].unique())
    with style():
        fig, axes = plt.subplots(len(encoders), len(levels), squeeze=False, sharex=True, sharey=True,
                                 figsize=(FIG_WIDTH, GRID_ROW_HEIGHT * len(encoders) + 0.4))
        for i, encoder in enumerate(encoders):
            for j, level in enumerate(levels):
                ax = axes[i][j]
                part = summary[(summary["encoder"] == encoder) & (summary[by] == level)]
                for role, color in ROLE_COLORS.items():
                    curve = part[part["role"] == role].sort_values("lam")
                    if curve.empty:
                        continue
                    ax.errorbar(curve["lam"], curve["mean"], yerr=_yerr(curve), color=color, marker="o",
                                markersize=3, capsize=0, elinewidth=0.7, label=role)
                ax.axhline(0.5, color=JOINT_COLOR, linestyle=":", linewidth=0.8)
                ax.set_xscale("symlog", linthresh=0.1)
                _panel_label(ax, f"{_level_text(by, level)}, {encoder_labels.get(encoder, encoder)}")
                if i == len(encoders) - 1:
                    ax.set_xlabel(r"$\lambda$")
                if j == 0:
                    ax.set_ylabel("probe accuracy")
        handles, labels = axes[0][0].get_legend_handles_labels()
        for row in axes:
            for ax in row:
                for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
                    if text not in labels:
                        handles.append(handle)
                        labels.append(text)
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7)
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
    frame = _check_frame("summary", summary, ["estimator", "n_samples", *parts])
    levels = _levels(frame, by, "summary")
    with style():
        fig, axes = _panels(len(levels), len(levels), sharey=True)
        for ax, level in zip(axes, levels, strict=True):
            part = _at_level(frame, by, level)
            for name in sorted(part["estimator"].unique(), key=str):
                rows = part[part["estimator"] == name].sort_values("n_samples")
                ax.plot(rows["n_samples"], rows[parts].mean(axis=1), marker="o",
                        color=estimator_colors.get(name, JOINT_COLOR), label=name)
            if target is not None:
                ax.axhline(target, color=JOINT_COLOR, linestyle="--", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_xlabel("samples")
            _panel_label(ax, _level_text(by, level))
        axes[0].set_ylabel("mean absolute error (nats)")
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
