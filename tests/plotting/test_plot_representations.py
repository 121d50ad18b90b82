"""Learning curves, projections of representations and probes (`plotting.representations`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_house_style, data_lines, rc_unchanged  # noqa: F401 (autouse fixture)

from alignbook import plotting


def test_plot_learning_curves():
    def history(lam):
        # the keys alignbook.training.single writes; the alignment loss is NaN where lam = 0
        return [{"epoch": e, "lam": lam, "train_task1": 1 / (e + 1), "train_task2": 1.2 / (e + 1),
                 "train_align": 3 - lam * e / 10 if lam > 0 else float("nan"),
                 "val_acc1": 0.5 + 0.01 * e, "val_acc2": 0.55 + 0.01 * e} for e in range(5)]

    fig = plotting.plot_learning_curves({0.0: history(0.0), 1.0: history(1.0), 2.0: history(2.0)})
    assert_house_style(fig)
    assert len(fig.axes) == 3
    assert [data_lines(ax) for ax in fig.axes] == [6, 2, 6]
    with pytest.raises(ValueError, match="history_by_lam"):
        plotting.plot_learning_curves({0.0: [{"nothing": 1}]})


def test_pca_is_deterministic_and_ordered():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    projected, shares = plotting.pca_2d(z)
    again, _ = plotting.pca_2d(z)
    np.testing.assert_array_equal(projected, again)
    assert shares[0] > shares[1] > 0 and shares.sum() <= 1
    assert projected[:, 0].var() > projected[:, 1].var()


def test_plot_embedding_and_representations():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=400)
    z = rng.normal(size=(400, 6)) + y[:, None]
    fig = plotting.plot_embedding_2d(z, y, max_points=200)
    assert_house_style(fig)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 4  # one scatter per class
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 200
    fig = plotting.plot_representations(z, z * 2, z + 1, z - 1, y, lam_after=1.0)
    assert_house_style(fig)
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="method"):
        plotting.plot_embedding_2d(z, y, method="tsne")


def test_plot_probes():
    rows = [dict(redundancy=r, encoder=e, role=role, lam=lam, mean=0.6, ci_low=0.55, ci_high=0.65)
            for r in (0, 8) for e in (1, 2) for role in ("shared, in label", "other's unique")
            for lam in (0.0, 1.0)]
    fig = plotting.plot_probes(pd.DataFrame(rows))
    assert len(fig.axes) == 4 and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["shared, in label", "other's unique"]
    plt.close("all")
