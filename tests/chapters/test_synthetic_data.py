"""Chapter 01's module (`chapters.synthetic_data`) and the direction words every chapter glues
(`chapters.book.direction`), on small constructed tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook import metrics
from alignbook.chapters import book, synthetic_data
from alignbook.data import PairedDataset, PairedSplit, synthetic

DEFAULTS = {"redundancy": 4, "depth": 1, "n_samples": 65536, "seed": 0, "depths": [0, 1, 2, 4, 8]}


def test_direction_words_follow_the_sign_of_a_change():
    assert [book.direction(c) for c in (0.2, -0.2, 0.0)] == ["rises", "falls", "stays the same"]
    assert book.direction(0.01, ("higher", "lower", "equal")) == "higher"
    assert book.direction(-0.01, ("above", "below", "at")) == "below"
    # within the tolerance a change is none, either way; just outside it, it counts
    assert book.direction(1e-10, tolerance=1e-9) == book.direction(-1e-10, tolerance=1e-9) == "stays the same"
    assert book.direction(2e-9, tolerance=1e-9) == "rises"
    assert book.direction(-2e-9, tolerance=1e-9) == "falls"
    with pytest.raises(ValueError, match="^change: is NaN"):
        book.direction(float("nan"))


def test_the_chapters_parameters_are_checked_and_need_two_depths():
    p = synthetic_data.Parameters.from_namespace({**DEFAULTS, "depths": "[0, 4]"})
    assert p.depths == [0, 4] and p.redundancy == 4  # papermill's text read back as a list
    with pytest.raises(ValueError, match="^depths: must hold at least two depths"):
        synthetic_data.Parameters.from_namespace({**DEFAULTS, "depths": [1]})
    with pytest.raises(ValueError, match="^redundancy: "):
        synthetic_data.Parameters.from_namespace({**DEFAULTS, "redundancy": 9})
    with pytest.raises(ValueError, match="^depths: contains 1 more than once"):
        synthetic_data.Parameters.from_namespace({**DEFAULTS, "depths": [1, 1]})


def test_level_change_compares_the_first_and_last_level():
    table = pd.DataFrame({"a": [0.5, 0.9, 0.7], "b": [1.0, 1.0 + 1e-12, 1.0], "c": [0.8, 0.6, 0.3]},
                         index=pd.Index([0, 4, 8], name="redundancy"))
    change = synthetic_data.level_change(table)
    assert list(change.columns) == ["r = 0", "r = 8", "change", "direction", "spread"]
    assert change["direction"].tolist() == ["rises", "stays the same", "falls"]
    assert change.loc["a", "change"] == pytest.approx(0.2)
    assert change.loc["a", "spread"] == pytest.approx(0.4)  # the middle level is the largest
    assert change.loc["c", "r = 8"] == 0.3 and change.loc["c", "spread"] == pytest.approx(0.5)
    # rounding noise of exact quantities is no change, a real difference is
    assert synthetic_data.level_change(table, tolerance=0.0).loc["b", "direction"] == "stays the same"
    with pytest.raises(ValueError, match="^info_table: must hold at least two levels"):
        synthetic_data.level_change(table.iloc[:1])


def test_level_change_on_the_exact_generator():
    info = pd.DataFrame({r: synthetic.exact_info(r, pid=False) for r in (0, 8)}).T
    change = synthetic_data.level_change(info[["mi_x1x2_y", "bayes_acc_x1", "bayes_acc_x2"]])
    # the knob keeps the total task information and moves the unimodal ceilings up
    assert change["direction"].tolist() == ["stays the same", "rises", "rises"]
    # at r = 8 modality 1 alone sees every label bit: its ceiling is the joint one
    assert change.loc["bayes_acc_x1", "r = 8"] == pytest.approx(info.loc[8, "bayes_acc"], abs=1e-12)


def test_feature_values_counts_distinct_values_per_feature():
    x1 = np.array([[0, 1, 5], [1, 1, 6], [0, 1, 7], [1, 1, 8]], dtype=np.float32)
    x2 = np.array([[0.1, 2.0], [0.2, 2.0], [0.3, 3.0], [0.1, 3.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    split = PairedSplit(x1, x2, y)
    dataset = PairedDataset(split, split, split, num_classes=2, name="four rows")
    values = synthetic_data.feature_values(dataset)
    assert values.loc["x1"].tolist() == [3, 1, 2.0, 4]  # features, fewest, median, most
    assert values.loc["x2"].tolist() == [2, 2, 2.5, 3]


def test_raw_similarity_is_linear_cka_per_depth_in_increasing_order():
    similarity = synthetic_data.raw_similarity(redundancy=4, depths=[4, 0], n_samples=1000, seed=3)
    assert similarity.index.tolist() == [0, 4]
    test = synthetic.make_dataset(4, depth=4, n_samples=1000, seed=3).test
    assert similarity.loc[4] == metrics.cka(test.x1, test.x2)


def test_similarity_trend_says_which_way_and_in_how_many_steps():
    falls = synthetic_data.similarity_trend(pd.Series([0.5, 0.55, 0.2], index=[0, 1, 4]))
    assert falls == {"shallowest": 0, "deepest": 4, "at_shallowest": 0.5, "at_deepest": 0.2,
                     "direction": "falls", "falls_in": "1 of 2"}
    rises = synthetic_data.similarity_trend(pd.Series([0.2, 0.3], index=[1, 2]))
    assert rises["direction"] == "rises" and rises["falls_in"] == "0 of 1"
    with pytest.raises(ValueError, match="^similarity: must hold at least two depths"):
        synthetic_data.similarity_trend(pd.Series([0.2], index=[1]))
