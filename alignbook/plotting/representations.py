"""What training does to the encoders: learning curves of a run per `lam` (`plot_learning_curves`),
2-D projections of representations before and after alignment (`pca_2d`, `plot_embedding_2d`,
`plot_representations`), and linear probes of the latent variables (`plot_probes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from alignbook.checks import check_positive_int, check_same_rows, fail, to_numpy
from alignbook.plotting import tables
from alignbook.plotting.house import (
    FIG_WIDTH,
    GRID_ROW_HEIGHT,
    JOINT_COLOR,
    OKABE_ITO,
    ROW_HEIGHT,
    encoder_colors,
    encoder_labels,
    legend,
    level_text,
    panel_label,
    panels,
    shade,
    style,
)

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
        fig, axes = panels(3, 3)
        for rank, lam in enumerate(lams):
            fraction = rank / max(len(lams) - 1, 1)
            history = history_by_lam[lam]
            for panel, prefix in ((axes[0], "task"), (axes[2], "val")):
                for encoder in (1, 2):
                    series = _series(history, f"{prefix}{encoder}")
                    if series is not None:
                        label = encoder_labels[encoder] if rank == len(lams) - 1 else None
                        panel.plot(*series, color=shade(encoder_colors[encoder], fraction), label=label)
            series = _series(history, "align")
            if series is not None:
                axes[1].plot(*series, color=shade(JOINT_COLOR, fraction), label=f"$\\lambda$ = {lam:g}")
        for panel, ylabel in zip(axes, ("task loss (train)", "alignment loss (InfoNCE, nats)",
                                        "validation accuracy"), strict=True):
            panel.set_xlabel("epoch")
            panel.set_ylabel(ylabel)
        legend(fig, axes, ncols=min(len(lams) + 2, 8))
    return fig


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
                panel_label(panel, f"{encoder_labels[encoder]}, {when}")
                for spine in ("left", "bottom"):
                    panel.spines[spine].set_color(encoder_colors[encoder])
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 10), markerscale=3)
    return fig


# what a latent bit is to the encoder probed (`plot_probes`)
ROLE_COLORS = {"shared, in label": OKABE_ITO["green"], "shared, not in label": OKABE_ITO["sky"],
               "own unique, in label": OKABE_ITO["vermillion"],
               "own unique, not in label": OKABE_ITO["orange"], "other's unique": OKABE_ITO["black"]}


def plot_probes(summary, by: str = "redundancy", ncols: int | None = None):
    """Linear-probe accuracy of each encoder's representation for the latent bits, against `lam`.

    `summary` has columns `by`, encoder, role (what the bits are to that encoder: `ROLE_COLORS` keys), lam,
    mean and optional ci_low/ci_high. One row of panels per encoder, one column per level of `by`; the
    dotted line is chance (0.5).
    """
    summary = tables.check_frame("summary", summary, [by, "encoder", "role", "lam", "mean"])
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
                    ax.errorbar(curve["lam"], curve["mean"], yerr=tables.yerr(curve), color=color, marker="o",
                                markersize=3, capsize=0, elinewidth=0.7, label=role)
                ax.axhline(0.5, color=JOINT_COLOR, linestyle=":", linewidth=0.8)
                ax.set_xscale("symlog", linthresh=0.1)
                panel_label(ax, f"{level_text(by, level)}, {encoder_labels.get(encoder, encoder)}")
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
