"""The answer per encoder: does alignment help, hurt, or make no detectable difference, and how sure is that?

Each encoder at each label budget is one cell of the book's verdict protocol (`analysis.optimal_lam`):
`lam*` is chosen on validation, and the gain of the `lam` that other seeds' validation scores choose is
measured on test (cross-fitted), paired by seed. The verdict (`verdict_of`):

- **helps** when `lam* > 0` and the cross-fitted gain is significantly above 0 (`p_rise < alpha`);
- **hurts** otherwise, when the cross-fitted loss at the `lam` chosen as worst on validation is
  significantly below 0 (`p_fall < alpha`): the protocol's mirror image of the rise;
- **no detectable effect** otherwise, with the smallest effect the runs could have detected (`mde`, at
  80 % power).

The issue that asked for the advice proposed "hurts when `lam* = 0` and the smallest positive `lam` tried is
significantly worse on test": a one-sided rule at one fixed `lam`, tested on the seeds that chose `lam*`.
The protocol replaced it with the symmetric pair above, so that a rise and an equal fall are found equally
often (`verdict_rates` checks this by simulation with the study's own grid, seeds and measured noise).
An encoder can both gain at `lam*` and lose at the worst `lam`: its verdict is "helps", with a caution.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alignbook.analysis import optimal_lam
from alignbook.analysis.calibration import Design, NoiseModel, simulate, truth_curve
from alignbook.analysis.curves import argmax_smallest
from alignbook.analysis.plan import load_protocol
from alignbook.analysis.protocol import cell_tests, seed_gains, t_interval, t_test
from alignbook.checks import check_positive_int
from alignbook.config import CAP_SHARE_LIMIT

VERDICTS = ("helps", "hurts", "no detectable effect")
TRUTHS = {"none": "no effect", "rise": "a rise", "fall": "an equal fall", "interior": "an interior optimum"}
ADVICE_FIELDS = ("verdict", "lam_star", "gain", "gain_low", "gain_high", "min_detectable_effect", "n_seeds",
                 "n_train")
# What the columns `verdicts` adds to, or reads differently from, `analysis.OPTIMUM_COLUMNS` mean
VERDICT_COLUMNS = {
    "level": "level of the intervals of the gain and the loss: 1 - 2 alpha, the two-sided counterpart of "
             "the verdict's one-sided tests",
    "gain_low": "lower end of the gain's t interval over seeds at `level`",
    "gain_high": "upper end of the gain's t interval over seeds at `level`",
    "loss": "cross-fitted change of test accuracy against lam = 0 at the lam other seeds' validation scores "
            "choose as worst (mean of d_down)",
    "loss_low": "lower end of the loss's t interval over seeds at `level`",
    "loss_high": "upper end of the loss's t interval over seeds at `level`",
    "lam_worst": "lam of the lowest seed-mean validation score",
    "verdict": "helps (lam* > 0 and p_rise < alpha), hurts (else p_fall < alpha) or no detectable effect",
    "caution": "helps at lam* yet loses at the worst lam",
    "over_cap": "more of the cell's runs than the protocol allows reached the step cap",
}
MARGIN = "real_accuracy"  # the protocol file's margin of the equivalence tests on real data


def protocol_levels() -> dict:
    """alpha, ci, power and the margin the advice uses, from the protocol file."""
    plan = load_protocol()
    return {"alpha": plan.alpha, "ci": plan.ci, "power": plan.power, "margin": plan.margins[MARGIN].value}


def verdict_of(lam_star, p_rise, p_fall, alpha: float) -> np.ndarray:
    """The verdict of each cell (module docstring) from its `lam*` and one-sided p-values (NaN: not
    shown)."""
    rise = np.nan_to_num(np.asarray(p_rise, dtype=float), nan=1.0) < alpha
    fall = np.nan_to_num(np.asarray(p_fall, dtype=float), nan=1.0) < alpha
    return np.select([(np.asarray(lam_star, dtype=float) > 0) & rise, fall], list(VERDICTS[:2]),
                     default=VERDICTS[2])


def with_n_train(table: pd.DataFrame, label_sizes: dict) -> pd.DataFrame:
    """The study's results `table` with `n_train`, the labelled examples of each run's label budget (its
    `labels` column, "all" or a number, looked up in `label_sizes`)."""
    return table.assign(n_train=[int(label_sizes.get(v, v)) for v in table["labels"]])


def interval_level(alpha: float) -> float:
    """The level of the intervals shown beside a verdict, `1 - 2 alpha`: the two-sided counterpart of the
    one-sided tests at `alpha`, so that "helps" (with `lam* > 0`) holds exactly when the gain's interval
    lies above 0, and "hurts" exactly when the loss's interval lies below 0."""
    return 1 - 2 * alpha


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per label budget (`n_train`, `with_n_train`) and encoder: `optimal_lam`'s columns at the
    protocol file's levels, with the gain's interval at `interval_level` (`level`); the cross-fitted `loss`
    at the `lam` chosen as worst on validation (mean of `d_down`, with `loss_low`, `loss_high` at that
    level) and `lam_worst` (the lowest seed-mean validation score); the `verdict`, `caution` (an encoder that
    helps at `lam*` yet loses at the worst `lam`) and `over_cap` (more than `CAP_SHARE_LIMIT` of the cell's
    runs reached the step cap)."""
    levels = protocol_levels()
    level = interval_level(levels["alpha"])
    out = optimal_lam(table, by=["n_train"], **levels)
    out.insert(2, "modality", out["encoder"].map(table.groupby("encoder")["modality"].first()))
    out["level"] = level
    out["gain_low"], out["gain_high"] = t_interval(out["gain"].to_numpy(), out["sd"].to_numpy(),
                                                   out["n_seeds"].to_numpy(), level)
    losses = seed_gains(table, by=["n_train"]).groupby(["n_train", "encoder"])["d_down"]
    worst = table[table["status"] == "ok"].groupby(["n_train", "encoder", "lam"])["val_acc"].mean()
    for i, row in out.iterrows():
        mean, sd, n, _ = t_test(losses.get_group((row["n_train"], row["encoder"])).to_numpy(), "less")
        low, high = t_interval(mean, sd, n, level)
        out.loc[i, ["loss", "loss_low", "loss_high"]] = [float(mean), float(low), float(high)]
        curve = worst.loc[(row["n_train"], row["encoder"])]
        out.loc[i, "lam_worst"] = float(curve.index[argmax_smallest(-curve.to_numpy())])
    out["verdict"] = verdict_of(out["lam_star"], out["p_rise"], out["p_fall"], levels["alpha"])
    out["caution"] = (out["verdict"] == "helps") & (out["p_fall"].fillna(1.0) < levels["alpha"])
    out["over_cap"] = out.get("cap_share", pd.Series(0.0, index=out.index)) > CAP_SHARE_LIMIT
    return out


def verdict_rates(lams, n_seeds: int, noise: NoiseModel, effect: float, n_sims: int = 4000,
                  seed: int = 0) -> pd.DataFrame:
    """How often each verdict is given on simulated cells with this study's `lams` and `n_seeds`, the
    measured `noise` (`analysis.noise_model`) and a known truth: no effect, a saturating rise of size
    `effect`, the equal fall, and an interior optimum of that height at the grid's middle `lam`. One row per
    truth, one column per verdict (rates), with their Monte-Carlo standard error's largest value (`se`)."""
    n_sims = check_positive_int("n_sims", n_sims)
    levels = protocol_levels()
    lams = np.asarray(lams, dtype=float)
    design = Design(tuple(lams), n_seeds, n_cells=1, alpha=levels["alpha"], ci=levels["ci"],
                    margin=levels["margin"])
    rows = []
    for i, (truth, words) in enumerate(TRUTHS.items()):
        size = 0.0 if truth == "none" else float(effect)
        curve = truth_curve(truth, lams, size, peak=float(lams[len(lams) // 2]))
        rng = np.random.default_rng([seed, i])
        test, valid = simulate(design, noise, curve, n_sims, rng)
        found = cell_tests(test, valid, design.margin, design.ci)
        star = lams[argmax_smallest(valid.mean(axis=-2))]
        given = verdict_of(star, found["p_rise"], found["p_fall"], design.alpha)
        rates = {v: float((given == v).mean()) for v in VERDICTS}
        se = max(math.sqrt(r * (1 - r) / given.size) for r in rates.values())
        rows.append({"truth": words, "effect": size, **rates, "se": se})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# the recommendation and the advice file


def encoder_entry(row) -> dict:
    """The advice file's entry of one cell (`ADVICE_FIELDS` and a few more)."""
    def number(value):
        return None if value is None or not math.isfinite(float(value)) else float(value)

    return {"encoder": int(row["encoder"]), "modality": str(row["modality"]), "verdict": row["verdict"],
            "lam_star": number(row["lam_star"]), "lam_low": number(row["lam_low"]),
            "lam_high": number(row["lam_high"]), "gain": number(row["gain"]),
            "gain_low": number(row["gain_low"]), "gain_high": number(row["gain_high"]),
            "interval_level": number(row["level"]), "lam_worst": number(row["lam_worst"]),
            "loss": number(row["loss"]), "loss_low": number(row["loss_low"]),
            "loss_high": number(row["loss_high"]), "min_detectable_effect": number(row["mde"]),
            "n_seeds": int(row["n_seeds"]),
            "n_train": int(row["n_train"]), "accuracy_alone": number(row["value_base"]),
            "p_rise": number(row["p_rise"]), "p_fall": number(row["p_fall"]),
            "runs_at_cap": number(row.get("cap_share", math.nan)), "caution": bool(row["caution"])}


def sentence(row) -> str:
    """The recommendation for one encoder, in words."""
    name = f"the {row['modality']} encoder"
    interval = f"{row['level'] * 100:g} % interval {row['gain_low']:+.3f} to {row['gain_high']:+.3f}"
    if row["verdict"] == "helps":
        text = (f"Align when training {name}: lam = {row['lam_star']:g} (chosen on validation) raised its "
                f"test accuracy by {row['gain']:+.3f} over training it alone ({interval}).")
        if row["caution"]:
            text += " Larger or smaller lam lowered it: keep to the chosen strength."
        return text
    if row["verdict"] == "hurts":
        return (f"Do not align {name}: lam = {row['lam_worst']:g} (the worst on validation) changed its "
                f"test accuracy by {row['loss']:+.3f} against training it alone ({row['level'] * 100:g} % "
                f"interval {row['loss_low']:+.3f} to {row['loss_high']:+.3f}); train it alone (lam = 0).")
    if not math.isfinite(row["mde"]):
        return (f"Alignment made no detectable difference to {name}; the runs were too few to say how "
                "large a difference they could detect.")
    return (f"Alignment made no detectable difference to {name}: tuning lam changed its test accuracy by "
            f"{row['gain']:+.3f} ({interval}), and the runs would have detected a gain of about "
            f"{row['mde']:.3f} or more (80 % of the time). Train it alone unless other reasons favour "
            "alignment.")


def recommendation(found: pd.DataFrame, study) -> dict:
    """The recommendation at the user's label budget (the study's first), in sentences per encoder, one
    on the shared `lam`, one at the scarcer budget when there is one, and the evidence it rests on."""
    levels = protocol_levels()
    sizes = [study.label_sizes[label] for label in study.labels]
    main = found[found["n_train"] == sizes[0]].sort_values("encoder")
    lines = [sentence(row) for row in main.to_dict("records")]
    helped = main[main["verdict"] == "helps"]
    if len(helped) == 1 and len(main) == 2:
        other = main[main["verdict"] != "helps"].iloc[0]
        lines.append(f"One lam weights the alignment of both encoders in a joint run: train the "
                     f"{helped.iloc[0]['modality']} encoder jointly at its lam and the {other['modality']} "
                     "encoder alone.")
    scarce = []
    for size in sizes[1:]:
        rows = found[found["n_train"] == size].sort_values("encoder")
        words = "; ".join(f"the {r['modality']} encoder: {r['verdict']}" for r in rows.to_dict("records"))
        scarce.append(f"With {size:,} labelled examples instead: {words}.")
    n_lams, n_seeds = len(study.lams), len(study.seeds)
    evidence = (f"This rests on {study.n_runs} training runs: {n_seeds} seeds x {n_lams} values of lam at "
                "each label budget, every seed drawing its own split and labelled subset (unless the data "
                "fix the split). lam is chosen on validation by other seeds and its gain measured on test, "
                "paired by seed (the book's verdict protocol, one-sided tests at alpha = "
                f"{levels['alpha']:g} for a gain and for a loss). The information decomposition and the "
                "predicted lam* are context: neither enters a verdict.")
    return {"lines": lines, "scarce": scarce, "evidence": evidence}


def advice(found: pd.DataFrame, study, pairs, extra: dict | None = None) -> dict:
    """The content of `advice.json`: one entry per encoder at the user's label budget (`encoders`), the same
    at the scarcer budget (`scarce_labels`, empty without one), the recommendation and its evidence, the
    defaults in words, the data's description, and `extra` (decomposition, prediction, timing)."""
    import alignbook

    def entries(label):
        rows = found[found["n_train"] == study.label_sizes[label]].sort_values("encoder")
        return [encoder_entry(row) for row in rows.to_dict("records")]

    said = recommendation(found, study)
    return {"data": {"name": pairs.name, "source": pairs.source, "examples": len(pairs),
                     "classes": list(pairs.class_names), "modalities": list(pairs.modalities),
                     "shapes": [list(s) for s in pairs.input_shapes], "split": pairs.split_rule},
            "encoders": entries(study.labels[0]),
            "scarce_labels": [e for label in study.labels[1:] for e in entries(label)],
            "recommendation": said["lines"] + said["scarce"], "evidence": said["evidence"],
            "defaults": dict(study.defaults), "protocol": protocol_levels(), "runs": study.n_runs,
            **(extra or {}), "alignbook": alignbook.__version__}
