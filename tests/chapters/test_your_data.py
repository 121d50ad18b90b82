"""Chapter 07's first cell and the tables and glue of its prose, on constructed findings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alignbook.advise.verdict import verdicts, with_n_train
from alignbook.chapters.your_data import (
    NONE,
    Parameters,
    answer_glue,
    cap_cell,
    rates_glue,
    rates_table,
    verdict_table,
)

DEFAULTS = {"data": "mfeat:kar,mor", "budget": 60, "labels": 0, "lams": [0.0, 0.5, 1.0, 4.0],
            "book_results": "", "out": "", "workers": "auto", "backend": "local"}


def test_the_first_cell_accepts_every_source_form():
    assert Parameters(**DEFAULTS).data == "mfeat:kar,mor"
    three = Parameters(**{**DEFAULTS, "data": "['a.npy', 'b.npy', 'c.npy']"})
    assert three.data == ["a.npy", "b.npy", "c.npy"]
    assert Parameters(**{**DEFAULTS, "lams": "[0.0, 1.0, 2.0]", "labels": 200}).lams == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("change, name", [
    ({"data": ""}, "data"), ({"data": ["a.npy", "b.npy"]}, "data"), ({"budget": 0}, "budget"),
    ({"budget": 11}, "budget"), ({"labels": -3}, "labels"), ({"lams": [0.5, 1.0, 2.0]}, "lams"),
    ({"lams": [0.0, 1.0]}, "lams"), ({"lams": [0.0, -1.0, 2.0]}, "lams"),
    ({"book_results": "/no/such/folder"}, "book_results"), ({"out": 3}, "out"), ({"workers": 0}, "workers"),
    ({"backend": "cloud"}, "backend"),
])
def test_the_first_cell_refuses_a_bad_value_naming_it(change, name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        Parameters(**{**DEFAULTS, **change})


def findings() -> pd.DataFrame:
    rows = []
    for labels, shift in (("all", 0.02), (70, 0.0)):
        for lam in (0.0, 1.0, 4.0):
            for seed in range(4):
                for encoder in (1, 2):
                    effect = shift * min(lam, 1) * (1 if encoder == 2 else -1)
                    score = 0.8 + effect + 0.001 * ((seed * 7 + encoder * 3 + int(lam * 5)) % 5)
                    rows.append({"labels": labels, "encoder": encoder, "modality": f"m{encoder}", "lam": lam,
                                 "seed": seed, "acc": score, "val_acc": score, "status": "ok",
                                 "hit_cap": encoder == 1 and labels == 70 and seed == 0})
    return verdicts(with_n_train(pd.DataFrame(rows), {"all": 700, 70: 70}))


class FakeStudy:
    labels = ("all", 70)
    label_sizes = {"all": 700, 70: 70}
    seeds = (0, 1, 2, 3)
    lams = (0.0, 1.0, 4.0)
    n_runs = 24


def test_the_verdict_table_reads_without_nan_and_marks_cells_over_the_cap():
    shown = verdict_table(findings())
    assert list(shown.index.get_level_values("labels")) == ["700", "700", "70", "70"]
    assert not shown.isna().any().any() and "nan" not in shown.to_string().lower()
    assert shown.loc[("70", "1: m1"), "at cap"] == "0.25 (over 0.05)"  # 3 of its 12 runs
    assert shown.loc[("700", "2: m2"), "verdict"] == "helps"
    assert cap_cell(math.nan) == NONE and cap_cell(0.05) == "0.05"


def test_the_answer_glue_states_each_verdict_and_direction():
    values = answer_glue(findings(), FakeStudy)
    assert values["enc2_verdict"] == "helps" and values["enc1_verdict"] == "hurts"
    assert values["enc2_gain_word"] == "above"
    assert values["enc1_gain_word"] == "at"  # every seed chose lam = 0 for the falling encoder
    assert values["n_train"] == "700" and values["n_scarce"] == "70" and values["n_runs"] == 24
    assert values["scarce_text"] == (f"with 70 labels they are {values['scarce_enc1_verdict']} and "
                                     f"{values['scarce_enc2_verdict']}")
    assert values["enc1_worst"] > 0 and values["enc1_loss_high"] < 0 and values["level"] == "90 %"


def test_rates_glue_and_table_from_the_calibration():
    rates = pd.DataFrame([
        {"truth": "no effect", "effect": 0.0, "helps": 0.031, "hurts": 0.029, "no detectable effect": 0.94,
         "se": 0.003},
        {"truth": "a rise", "effect": 0.02, "helps": 0.72, "hurts": 0.0, "no detectable effect": 0.28,
         "se": 0.01},
        {"truth": "an equal fall", "effect": 0.02, "helps": 0.0, "hurts": 0.71, "no detectable effect": 0.29,
         "se": 0.01},
        {"truth": "an interior optimum", "effect": 0.02, "helps": 0.6, "hurts": 0.01,
         "no detectable effect": 0.39, "se": 0.01}])
    assert rates_glue(rates) == {"false_helps": "0.03", "false_hurts": "0.03", "power_rise": "0.72",
                                 "power_fall": "0.71", "interior": "0.60", "rate_effect": "0.020"}
    assert set(rates_glue(None).values()) == {"unknown"}
    assert list(rates_table(rates).columns) == ["effect", "helps", "hurts", "no detectable effect"]


def test_the_verdict_table_offered_for_download_says_what_every_column_means():
    from alignbook.advise import VERDICT_COLUMNS
    from alignbook.chapters import publish

    record = publish.table_record(findings().drop(columns=["lam_p"]), "your_data_verdicts",
                                  "one row per cell", VERDICT_COLUMNS)
    assert record["columns"]["loss"] == VERDICT_COLUMNS["loss"]
