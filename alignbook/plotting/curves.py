"""Curves against the alignment strength `lam`, drawn by several chapters: accuracy per encoder with its
optimum `lam*` (`plot_lam_curves`, with `lam_curve_limits` to give compared figures one scale) and the
alignment metrics with their chance levels (`plot_alignment_curves`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from alignbook.checks import fail
from alignbook.plotting import tables
from alignbook.plotting.house import (
    JOINT_COLOR,
    LAM_LABEL,
    dodge,
    encoder_colors,
    encoder_labels,
    legend,
    level_text,
    metric_colors,
    metric_label,
    panel_label,
    panels,
    style,
)


def lam_curve_limits(summary, by: str | None = "redundancy", bounds=None, margin: float = 0.04) -> dict:
    """Vertical limits per level of `by` that hold every curve of `summary` (all its other groups, such
    as depths, together), their intervals and the `bounds`: pass them as `ylim` to figures that the
    reader compares, so their panels share a scale."""
    summary = tables.check_frame("summary", summary, ["encoder", "lam", "mean"])
    limits = {}
    for level in tables.levels(summary, by, "summary"):
        part = tables.at_level(summary, by, level)
        values = [part["mean"].to_numpy(dtype=float)]
        for column in ("ci_low", "ci_high"):
            if column in part.columns:
                values.append(part[column].to_numpy(dtype=float))
        for encoder in part["encoder"].unique():
            bound = tables.per_level(bounds, level, encoder)
            if bound is not None:
                values.append(np.array([bound]))
        values = np.concatenate(values)
        low, high = np.nanmin(values), np.nanmax(values)
        pad = margin * max(high - low, 1e-3)
        limits[level] = (float(low - pad), float(high + pad))
    return limits


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
    summary = tables.check_frame("summary", summary, ["encoder", "lam", "mean"])
    summary = tables.select_metric(summary, metric, "summary")
    levels = tables.levels(summary, by, "summary")
    tables.check_one_curve(summary, [*([by] if by else []), "encoder", "lam"], "summary")
    if lam_star is not None:
        lam_star = tables.check_frame("lam_star", lam_star, ["encoder", "lam_star"])
    with style():
        if ax is not None:
            if len(levels) != 1:
                fail("ax", f"draws one panel, but summary has {len(levels)} levels of {by!r}")
            fig, axes = ax.figure, [ax]
        else:
            fig, axes = panels(len(levels), ncols, sharey=sharey and ylim is None)
        for panel, level in zip(axes, levels, strict=True):
            part = tables.at_level(summary, by, level)
            encoders = sorted(part["encoder"].unique())
            for encoder, curve in part.groupby("encoder", sort=True):
                curve = curve.sort_values("lam")
                color = encoder_colors.get(encoder, JOINT_COLOR)
                x = dodge(curve["lam"], encoders.index(encoder), len(encoders))
                panel.errorbar(x, curve["mean"], yerr=tables.yerr(curve), color=color, marker="o",
                               capsize=0, elinewidth=0.8, label=encoder_labels.get(encoder, str(encoder)))
                bound = tables.per_level(bounds, level, encoder)
                if bound is not None:
                    panel.axhline(bound, color=color, linestyle="--", linewidth=0.9)
                if lam_star is not None:
                    stars = tables.at_level(lam_star, by if by in lam_star.columns else None, level)
                    _mark_lam_star(panel, stars, encoder, curve, color)
            panel_label(panel, level_text(by, level))
            panel.set_xlabel(LAM_LABEL)
            limits = ylim.get(level) if isinstance(ylim, Mapping) else ylim
            if limits is not None:
                panel.set_ylim(*limits)
        for panel in axes:
            if panel.get_subplotspec() is None or panel.get_subplotspec().is_first_col():
                panel.set_ylabel(metric_label(metric))
        if ax is None:
            legend(fig, axes)
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
    summary = tables.check_frame("summary", summary, ["lam", "mean", "metric"])
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        fail("metrics", "must name at least one metric")
    absent = [m for m in metrics if m not in set(summary["metric"])]
    if absent:
        fail("metrics", f"not in summary: {absent}; it holds {sorted(summary['metric'].unique())}")
    if "encoder" in summary.columns:
        summary = summary[summary["encoder"] == summary["encoder"].min()]
    levels = tables.levels(summary, by, "summary")
    tables.check_one_curve(summary, [*([by] if by else []), "metric", "lam"], "summary")
    with style():
        fig, axes = panels(len(levels), ncols, sharey=True)
        for panel, level in zip(axes, levels, strict=True):
            part = tables.at_level(summary, by, level)
            for rank, metric in enumerate(metrics):
                curve = part[part["metric"] == metric].sort_values("lam")
                color = metric_colors.get(metric, JOINT_COLOR)
                x = dodge(curve["lam"], rank, len(metrics))
                panel.errorbar(x, curve["mean"], yerr=tables.yerr(curve), color=color, marker="o",
                               capsize=0, elinewidth=0.8, label=metric_label(metric))
                level_chance = (chance or {}).get(metric)
                if isinstance(level_chance, Mapping):
                    level_chance = level_chance.get(level)
                if level_chance is not None:
                    panel.axhline(float(level_chance), color=color, linestyle=":", linewidth=1.0)
            panel_label(panel, level_text(by, level))
            panel.set_xlabel(LAM_LABEL)
            if panel.get_subplotspec().is_first_col():
                panel.set_ylabel("alignment score")
        legend(fig, axes)
    return fig
