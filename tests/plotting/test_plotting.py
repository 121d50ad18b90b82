"""Every figure function returns a Figure with the expected panels and lines, in the house style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from alignbook import analysis, plotting  # noqa: E402

LAMS = [0.0, 0.5, 1.0, 1.5]
METRICS = ("align_mutual_knn", "align_cka")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for level in (0, 4):
        for seed in range(3):
            for lam in LAMS:
                knn, cka = 0.1 + 0.2 * lam + rng.normal(0, 0.01), 0.3 + 0.1 * lam + rng.normal(0, 0.01)
                for encoder in (1, 2):
                    rows.append(dict(dataset="synthetic", redundancy=level, lam=lam, seed=seed,
                                     encoder=encoder,
                                     acc=0.7 + 0.02 * lam * (1 if level else -1) + rng.normal(0, 0.005),
                                     status="ok", align_mutual_knn=knn, align_cka=cka))
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def rc_unchanged():
    """Every plotting call must leave matplotlib's global settings as they were."""
    before = dict(matplotlib.rcParams)
    yield
    after = dict(matplotlib.rcParams)
    changed = [k for k in before if repr(before[k]) != repr(after[k])]
    plt.close("all")
    assert not changed, f"rcParams changed: {changed}"


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




def test_encoder_colors_are_distinct():
    assert set(plotting.encoder_colors) == {1, 2}
    assert plotting.encoder_colors[1] != plotting.encoder_colors[2]


def test_style_context_restores(table):
    with plotting.style():
        assert matplotlib.rcParams["axes.grid"] is True


def test_plot_lam_curves(table):
    summary = analysis.curve_summary(table, by="redundancy")
    fig = plotting.plot_lam_curves(summary, by="redundancy")
    assert_house_style(fig)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert data_lines(ax) == 2  # one mean curve per encoder (error bars are collections)
        assert ax.get_xlabel()
    assert fig.axes[0].get_ylabel() == "test accuracy"
    colors = [matplotlib.colors.to_hex(line.get_color()) for line in fig.axes[0].lines]
    assert colors == [plotting.encoder_colors[1].lower(), plotting.encoder_colors[2].lower()]


def test_plot_lam_curves_with_bounds_and_lam_star(table):
    summary = analysis.curve_summary(table, by="redundancy")
    stars = analysis.optimal_lam(table, by="redundancy", n_bootstrap=50)
    fig = plotting.plot_lam_curves(summary, bounds={1: 0.8, 2: 0.75}, lam_star=stars)
    for ax in fig.axes:
        assert data_lines(ax) == 2 + 2 + 2  # curves, dashed bounds, lam* markers
    fig, ax = plt.subplots()
    single = summary[summary.redundancy == 4]
    assert plotting.plot_lam_curves(single, ax=ax) is fig
    with pytest.raises(ValueError, match="ax"):
        plotting.plot_lam_curves(summary, ax=ax)
    with pytest.raises(ValueError, match="several rows"):
        plotting.plot_lam_curves(summary, by=None)


def test_plot_alignment_curves(table):
    summary = pd.concat([analysis.curve_summary(table, by="redundancy", metric=m) for m in METRICS])
    fig = plotting.plot_alignment_curves(summary, metrics=METRICS, chance={"align_mutual_knn": 0.05,
                                                                           "align_cka": {0: 0.1, 4: 0.12}})
    assert_house_style(fig)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert data_lines(ax) == 2 + 2  # one curve per metric, one dotted chance line per metric
    with pytest.raises(ValueError, match="metrics"):
        plotting.plot_alignment_curves(summary, metrics=("align_svcca",))


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


def test_plot_info_table_and_pid():
    info = {r: {"I1": 0.3 + 0.1 * r, "I2": 0.4 + 0.1 * r, "I12": 1.16, "acc1": 0.6, "acc2": 0.65, "acc": 0.9}
            for r in (0, 4, 8)}
    fig = plotting.plot_info_table(info)
    assert_house_style(fig)
    assert len(fig.axes) == 2 and all(len(ax.patches) == 9 for ax in fig.axes)
    names = {"I1": "mi_x1_y", "I2": "mi_x2_y", "I12": "mi_x1x2_y", "acc1": "bayes_acc_x1",
             "acc2": "bayes_acc_x2", "acc": "bayes_acc"}  # synthetic.exact_info's keys work as they are
    fig = plotting.plot_info_table({r: {names[k]: v for k, v in row.items()} for r, row in info.items()})
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(
        [info[r][k] for k in ("I1", "I2", "I12") for r in (0, 4, 8)])
    pid = {r: {"R": 0.1 * r, "U1": 0.2, "U2": 0.2, "S": 0.5} for r in (0, 4, 8)}
    fig = plotting.plot_pid(pid)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 12
    estimated = pd.DataFrame([{"redundancy": r, **v, "R_err": 0.02} for r, v in pid.items()])
    fig = plotting.plot_pid(pid, estimated=estimated)
    assert_house_style(fig)
    assert len(fig.axes[0].patches) == 24 + 1  # exact and estimated stacks, plus the hatch legend entry
    with pytest.raises(ValueError, match="acc"):
        plotting.plot_info_table({0: {"I1": 1, "I2": 1, "I12": 1}})


def test_plot_samples():
    rng = np.random.default_rng(0)
    x1, x2 = rng.integers(0, 2, size=(50, 12)), rng.normal(size=(50, 12))
    y = rng.integers(0, 4, size=50)
    fig = plotting.plot_samples(x1, x2, y, n=3)
    assert_house_style(fig)
    assert len(fig.axes) == 3  # x1, x2 and the shared colour bar
    assert fig.axes[0].images[0].get_array().shape == (12, 12)  # 3 examples of each of 4 classes


def test_plot_lam_star_vs_redundancy():
    points = pd.DataFrame({"redundancy_fraction": [0.0, 0.4, 0.9, 0.1], "encoder": [1, 1, 1, 2],
                           "lam_star": [0.0, 0.6, 2.0, 0.75], "lam_low": [0.0, 0.4, 1.6, 0.5],
                           "lam_high": [0.2, 0.8, 2.0, 1.0], "kind": ["synthetic"] * 3 + ["real"],
                           "label": ["", "", "", "MOSEI text"]})
    fig = plotting.plot_lam_star_vs_redundancy(points)
    assert_house_style(fig)
    assert len(fig.axes[0].containers) == 2  # error bars of (enc1, synthetic) and (enc2, real)
    with pytest.raises(ValueError, match="kind"):
        plotting.plot_lam_star_vs_redundancy(points.assign(kind="other"))


def test_plot_search_trace():
    def evaluate(lams, resource, seed):
        return [0.8 - 0.05 * (lam - 1.3) ** 2 for lam in lams]

    result = analysis.search_lam(evaluate, budget=4, method="halving")
    grid = np.linspace(0, 4, 41)
    fig = plotting.plot_search_trace(result, (grid, evaluate(grid, 1, 0)))
    assert_house_style(fig)
    assert data_lines(fig.axes[0]) == 2  # the grid curve and the chosen lam*
    assert len(fig.axes[0].collections) == len({r for _, _, r in result.history})
    fig = plotting.plot_search_trace(result.history)
    assert data_lines(fig.axes[0]) == 0


def test_compared_panels_share_a_scale_and_encoders_sit_apart(table):
    summary = analysis.curve_summary(table, by="redundancy")
    bounds = {level: {1: 0.95, 2: 0.9} for level in summary["redundancy"].unique()}
    limits = plotting.lam_curve_limits(summary, by="redundancy", bounds=bounds)
    for level, (low, high) in limits.items():
        part = summary[summary["redundancy"] == level]
        assert low < part["ci_low"].min() and high > 0.95  # every interval and the bound fit
    fig = plotting.plot_lam_curves(summary, by="redundancy", bounds=bounds, ylim=limits)
    assert_house_style(fig)
    for ax, level in zip(fig.axes, sorted(limits), strict=True):
        assert ax.get_ylim() == pytest.approx(limits[level])
        first, second = (line.get_xdata() for line in ax.lines[:3:2])  # the two encoders' mean curves
        lams = np.sort(summary["lam"].unique())
        assert np.all(first < lams + 1e-12) and np.all(second > lams - 1e-12)
        assert np.all(second - first > 0) and np.all(second - first < np.diff(lams).min() / 2)


def _map_frame():
    rows = []
    for depth in (1, 10):
        for encoder in (1, 2):
            for n_train in (300, 1000, 45875):
                for redundancy in (0, 4, 8):
                    gain = 0.01 * (redundancy - 4) / (1 + n_train / 1000)
                    rows.append(dict(depth=depth, encoder=encoder, n_train=n_train, redundancy=redundancy,
                                     gain=gain, gain_low=gain - 0.004, gain_high=gain + 0.004,
                                     lam_star=0.5, lam_low=0.2, lam_high=1.0, gap=abs(gain) + 0.01))
    return pd.DataFrame(rows)


def test_plot_regime_map_annotates_every_cell():
    frame = _map_frame()
    fig = plotting.plot_regime_map(frame)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4
    texts = [t.get_text() for t in panels[0].texts]
    assert len(texts) == 9 and "+0.031\n[+0.027,\n+0.035]" in texts  # depth 1, enc1, r = 8, n = 300
    bold = [t.get_text() for t in panels[0].texts if t.get_fontweight() == "bold"]
    assert "-0.031\n[-0.035,\n-0.027]" in bold and all("+0.000" not in t for t in bold)
    assert [t.get_text() for t in panels[-1].get_xticklabels()] == ["300", "1,000", "45,875"]
    lam_fig = plotting.plot_regime_map(frame, value="lam_star", low="lam_low", high="lam_high",
                                       diverging=False, fmt="{:g}")
    assert "0.5\n[0.2,\n1]" in [t.get_text() for t in lam_fig.axes[0].texts]
    with pytest.raises(ValueError, match="^frame: has several rows"):
        plotting.plot_regime_map(pd.concat([frame, frame]))
    plt.close("all")


def test_plot_regime_map_takes_named_levels_and_no_row_panels():
    frame = pd.DataFrame({"dataset": ["pix-fou", "fac-kar"] * 2, "label_fraction": [0.05, 0.05, 1.0, 1.0],
                          "role": "weaker", "gain": [0.02, 0.01, 0.0, -0.01]})
    fig = plotting.plot_regime_map(frame, x="label_fraction", y="dataset", rows=None, cols="role", low=None,
                                   high=None)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 1 and panels[0].get_title() == "role = weaker"
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["fac-kar", "pix-fou"]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["0.05", "1"]
    assert sorted(t.get_text() for t in panels[0].texts) == ["+0.000", "+0.010", "+0.020", "-0.010"]
    plt.close("all")


def test_plot_gain_vs_gap_and_probes():
    fig = plotting.plot_gain_vs_gap(_map_frame())
    ax = fig.axes[0]
    assert len(ax.collections) >= 4  # a scatter (and intervals) per encoder and depth
    assert any(line.get_linestyle() == "--" for line in ax.lines)  # gain = gap
    rows = [dict(redundancy=r, encoder=e, role=role, lam=lam, mean=0.6, ci_low=0.55, ci_high=0.65)
            for r in (0, 8) for e in (1, 2) for role in ("shared, in label", "other's unique")
            for lam in (0.0, 1.0)]
    fig = plotting.plot_probes(pd.DataFrame(rows))
    assert len(fig.axes) == 4 and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["shared, in label", "other's unique"]
    plt.close("all")


def test_plot_estimator_errors_draws_one_line_per_estimator_and_panel_per_depth():
    rows = [{"estimator": name, "n_samples": n, "depth": depth, "mae_R": error / n, "mae_U1": 0.0,
             "mae_U2": 0.0, "mae_S": 0.0}
            for name, error in (("kmeans", 800.0), ("codes/none", 100.0)) for n in (1000, 4000)
            for depth in (1, 3)]
    fig = plotting.plot_estimator_errors(pd.DataFrame(rows), target=0.05)
    assert len(fig.axes) == 2
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() in ("kmeans", "codes/none")]
    assert sorted(line.get_label() for line in lines) == ["codes/none", "kmeans"]
    kmeans = next(line for line in lines if line.get_label() == "kmeans")
    assert np.allclose(kmeans.get_ydata(), [800 / 1000 / 4, 800 / 4000 / 4])  # mean over the four parts
    assert any(np.allclose(line.get_ydata(), 0.05) for line in fig.axes[0].get_lines())  # the target
    plt.close(fig)
    with pytest.raises(ValueError, match="summary"):
        plotting.plot_estimator_errors(pd.DataFrame(rows).drop(columns="mae_S"))
