"""Chapter 07 (Should I align on my data?): its parameters, and the tables and glue of its prose.

The study, the verdicts, the decomposition, the prediction and the report are the package's
(`alignbook.advise`, the same functions `python -m alignbook advise` runs); this module only checks the
chapter's first cell and lays the findings out for readers: tables without NaN, intervals in one cell,
the share of runs at the step cap marked above the protocol's limit, and every verdict and number the prose
states as glue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from alignbook.advise.study import MIN_SCARCE_PER_CLASS, SCARCE_SHARE
from alignbook.analysis.protocol import MIN_SEEDS
from alignbook.chapters.book import direction, with_interval
from alignbook.checks import NotebookParameters, check_optional_path, check_positive_int, fail, literal_list
from alignbook.config import CAP_SHARE_LIMIT

NONE = "–"  # a cell with nothing to show


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The chapter's first cell (the notebook documents each field)."""

    data: str | list
    budget: int
    labels: int
    lams: list
    book_results: str
    out: str
    workers: int | str
    backend: str

    def check(self) -> None:
        data = self.data
        if isinstance(data, str) and data.strip().startswith("["):
            data = literal_list("data", data)
        if isinstance(data, (list, tuple)):
            if len(data) != 3 or not all(isinstance(v, str) and v for v in data):
                fail("data", f"as a list must name three .npy files (x1, x2, y), got {self.data!r}")
            data = list(data)
        elif not isinstance(data, str) or not data.strip():
            fail("data", f"must name the pairs (an .npz file, three .npy files, module:function or "
                         f"mfeat:VIEW,VIEW), got {self.data!r}")
        self.set("data", data)
        check_positive_int("budget", self.budget)
        if self.labels != 0:  # 0: every labelled example of the training part
            check_positive_int("labels", self.labels)
        if len(self.lams) < 3 or self.lams[0] != 0 or self.lams != sorted(self.lams):
            fail("lams", f"must be at least 3 increasing values starting with 0, got {self.lams!r}",
                 "0 is training alone, the baseline; the calibration section needs 3 values")
        if self.budget < MIN_SEEDS * len(self.lams):
            fail("budget", f"{self.budget} runs allow fewer than {MIN_SEEDS} seeds of {len(self.lams)} lams",
                 f"give at least {MIN_SEEDS * len(self.lams)}")
        check_optional_path("book_results", self.book_results, "folder")
        if not isinstance(self.out, str):
            fail("out", f"must be a folder as text ('' for no report), got {self.out!r}")


def number(value, digits: int = 3) -> str:
    """A number for a table, `NONE` when missing."""
    return NONE if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def cap_cell(share: float) -> str:
    """The share of a cell's runs at the step cap, marked above `CAP_SHARE_LIMIT`."""
    if not math.isfinite(share):
        return NONE
    return f"{share:.2f}" + (f" (over {CAP_SHARE_LIMIT:g})" if share > CAP_SHARE_LIMIT else "")


def verdict_table(found: pd.DataFrame) -> pd.DataFrame:
    """The verdicts for readers, one row per label budget and encoder: the verdict, `lam*` with its
    confidence set, the cross-fitted test gain at `lam*` and loss at the worst `lam` with their intervals
    (at `found["level"]`), the smallest effect the runs could detect, seeds and the share of runs at the
    step cap."""
    level = f"{100 * found['level'].iloc[0]:g} %"
    rows = []
    for row in found.sort_values(["n_train", "encoder"], ascending=[False, True]).to_dict("records"):
        rows.append({"labels": f"{int(row['n_train']):,}", "encoder": f"{row['encoder']}: {row['modality']}",
                     "verdict": row["verdict"] + (" (near lam* only)" if row["caution"] else ""),
                     "lam* [set]": with_interval(row["lam_star"], row["lam_low"], row["lam_high"], 2),
                     f"gain [{level}]": with_interval(row["gain"], row["gain_low"], row["gain_high"], 3),
                     f"loss [{level}]": with_interval(row["loss"], row["loss_low"], row["loss_high"], 3),
                     "detectable": number(row["mde"]), "seeds": int(row["n_seeds"]),
                     "at cap": cap_cell(row.get("cap_share", math.nan))})
    return pd.DataFrame(rows).set_index(["labels", "encoder"])


def answer_glue(found: pd.DataFrame, study) -> dict:
    """Glue of the answer: per encoder at the user's label budget `enc{k}_verdict`, `enc{k}_modality`,
    `enc{k}_lam`, `enc{k}_gain` (with `_low`, `_high`), `enc{k}_loss` (likewise) at `enc{k}_worst`,
    `enc{k}_mde` and `enc{k}_gain_word` ("above" or "below" 0), the intervals' `level` and the verdicts'
    `alpha`, the cap's limit and the scarcer budget's rule (`scarce_share`, `scarce_per_class`); at the
    scarcer budget `scarce_enc{k}_verdict` ("not run" without one) and `scarce_text`, a clause that states
    them or says why there is no such budget; and the study's sizes."""
    sizes = [study.label_sizes[label] for label in study.labels]
    level = float(found["level"].iloc[0])
    values = {"level": f"{100 * level:g} %", "alpha": f"{(1 - level) / 2:g}",
              "cap_limit": f"{CAP_SHARE_LIMIT:g}",
              "scarce_share": f"{SCARCE_SHARE:g}", "scarce_per_class": MIN_SCARCE_PER_CLASS,
              "n_train": f"{sizes[0]:,}",
              "n_scarce": f"{sizes[1]:,}" if len(sizes) > 1 else "none", "n_runs": study.n_runs,
              "n_seeds": len(study.seeds), "n_lams": len(study.lams)}
    for row in found[found["n_train"] == sizes[0]].to_dict("records"):
        k = f"enc{row['encoder']}"
        values.update({f"{k}_verdict": row["verdict"], f"{k}_modality": row["modality"],
                       f"{k}_lam": row["lam_star"], f"{k}_gain": row["gain"],
                       f"{k}_gain_low": row["gain_low"], f"{k}_gain_high": row["gain_high"],
                       f"{k}_mde": number(row["mde"]), f"{k}_loss": row["loss"],
                       f"{k}_loss_low": row["loss_low"], f"{k}_loss_high": row["loss_high"],
                       f"{k}_worst": row["lam_worst"],
                       f"{k}_gain_word": direction(row["gain"], ("above", "below", "at"))})
    for encoder in (1, 2):
        rows = found[(found["n_train"] == sizes[-1]) & (found["encoder"] == encoder)]
        values[f"scarce_enc{encoder}_verdict"] = rows["verdict"].iloc[0] if len(sizes) > 1 else "not run"
    values["scarce_text"] = (
        f"with {sizes[1]:,} labels they are {values['scarce_enc1_verdict']} and "
        f"{values['scarce_enc2_verdict']}" if len(sizes) > 1 else
        "no scarcer label budget was run (a tenth of the labels would leave too few per class, or the budget "
        "allows no second one)")
    return values


def rates_glue(rates: pd.DataFrame | None) -> dict:
    """Glue of the calibration: the false "helps" and "hurts" rates under no effect, the power for a rise
    and for the equal fall, and the interior optimum found as "helps" (all "unknown" without rates)."""
    if rates is None:
        return {k: "unknown" for k in ("false_helps", "false_hurts", "power_rise", "power_fall", "interior")}
    by = rates.set_index("truth")
    return {"false_helps": number(by.loc["no effect", "helps"], 2),
            "false_hurts": number(by.loc["no effect", "hurts"], 2),
            "power_rise": number(by.loc["a rise", "helps"], 2),
            "power_fall": number(by.loc["an equal fall", "hurts"], 2),
            "interior": number(by.loc["an interior optimum", "helps"], 2),
            "rate_effect": number(by.loc["a rise", "effect"])}


def rates_table(rates: pd.DataFrame) -> pd.DataFrame:
    """The calibration for readers: one row per truth, the share of simulated cells given each verdict."""
    shown = rates.set_index("truth").drop(columns=["se"])
    shown["effect"] = shown["effect"].map(number)
    return shown.round(3)


def decomposition_table(found) -> pd.DataFrame:
    """The decomposition for readers: each quantity's estimate and its spread over the estimator's folds
    (not a calibrated interval)."""
    names = {"R": "redundancy R", "U1": "unique to x1, U1", "U2": "unique to x2, U2", "S": "synergy S",
             "I1": "I(x1; y)", "I2": "I(x2; y)", "I12": "I(x1, x2; y)"}
    return pd.DataFrame({"estimate (nats)": [number(found.point[k]) for k in names],
                         "spread over folds": [f"{number(found.low[k])} to {number(found.high[k])}"
                                               for k in names]},
                        index=pd.Index(list(names.values()), name="quantity"))
