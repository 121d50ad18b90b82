"""Users' own pairs: the formats (.npz, three .npy files, module:function), every bad-data case with a
one-line error naming the array, and the draws a sweep trains on."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from alignbook.data import PairedDataset, from_arrays
from alignbook.data.registry import build_dataset, unregister_dataset
from alignbook.data.user import DATASET_KIND, check_pairs, class_codes, read_pairs, register


def arrays(n: int = 120, seed: int = 0, classes=("cat", "dog", "eel")):
    rng = np.random.default_rng(seed)
    y = np.array([classes[i % len(classes)] for i in range(n)])
    x1 = rng.normal(size=(n, 5)).astype(np.float32)
    x2 = rng.normal(size=(n, 4, 3)).astype(np.float32)
    return x1, x2, y


def one_line_error(call, *names: str) -> str:
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.split(":")[0] in names, message
    return message


def test_an_npz_file_reads_back_every_array_with_its_class_names(tmp_path):
    x1, x2, y = arrays()
    x2 = x2[:, 0, :]  # two tables
    path = tmp_path / "pairs.npz"
    np.savez(path, x1=x1, x2=x2, y=y)
    pairs = read_pairs(str(path))
    assert pairs.class_names == ("cat", "dog", "eel")
    np.testing.assert_array_equal(np.array(pairs.class_names)[pairs.y], y)
    np.testing.assert_array_equal(pairs.x1, x1)
    np.testing.assert_array_equal(pairs.x2, x2)
    assert pairs.kinds == ("table", "table") and pairs.split_rule == "stratified" and pairs.name == "pairs"
    assert read_pairs(path).fingerprint() == pairs.fingerprint()


def test_three_npy_files_and_a_function_returning_a_dataset(tmp_path, monkeypatch):
    x1, x2, y = arrays()
    paths = []
    for name, array in (("audio", x1), ("video", x2[:, 0, :]), ("labels", y)):
        paths.append(tmp_path / f"{name}.npy")
        np.save(paths[-1], array)
    pairs = read_pairs(",".join(str(p) for p in paths))
    assert pairs.modalities == ("audio", "video") and pairs.num_classes == 3
    assert read_pairs(paths).fingerprint() == pairs.fingerprint()

    dataset = from_arrays(x1, x2[:, 0, :], np.arange(120) % 3, seed=3)
    module = types.ModuleType("user_pairs_module")
    module.make = lambda: dataset
    monkeypatch.setitem(sys.modules, "user_pairs_module", module)
    kept = read_pairs("user_pairs_module:make")
    assert kept.split_rule == "fixed"
    for seed in (0, 5):  # a fixed split stays whatever the seed
        drawn = kept.draw(seed)
        assert [len(s) for s in drawn.splits.values()] == [len(s) for s in dataset.splits.values()]
        np.testing.assert_allclose(drawn.test.y, dataset.test.y)


def test_labels_of_any_hashable_type_become_codes():
    codes, names = class_codes("y", np.array([2.5, 1.0, 2.5, 7.0]))
    assert codes.tolist() == [1, 0, 1, 2] and names == ("1.0", "2.5", "7.0")
    codes, names = class_codes("y", np.array([True, False, True]))
    assert codes.tolist() == [1, 0, 1] and names == ("False", "True")
    mixed = np.empty(4, dtype=object)
    mixed[:] = ["b", 3, "b", (1, 2)]  # not comparable: the order of first appearance
    codes, names = class_codes("y", mixed)
    assert codes.tolist() == [0, 1, 0, 2] and names == ("b", "3", "(1, 2)")


@pytest.mark.parametrize("case, names", [
    ("features 1-D", ("x1",)), ("features 4-D", ("x2",)), ("features NaN", ("x1",)),
    ("features objects", ("x1",)), ("features text", ("x2",)), ("labels one class", ("y",)),
    ("labels too few of a class", ("y",)), ("labels NaN", ("y",)), ("labels unhashable", ("y",)),
    ("rows differ", ("x1/x2/y",)), ("split unknown value", ("split",)), ("split no test", ("split",)),
    ("split and groups", ("groups",)), ("groups too few", ("groups",)),
])
def test_every_bad_data_case_is_one_line_naming_the_array(case, names):
    x1, x2, y = arrays()
    split = groups = None
    if case == "features 1-D":
        x1 = x1[:, 0]
    elif case == "features 4-D":
        x2 = x2[:, :, :, None]
    elif case == "features NaN":
        x1[3, 1] = np.nan
    elif case == "features objects":
        x1 = x1.astype(object)
    elif case == "features text":
        x2 = x2.astype(str)
    elif case == "labels one class":
        y = np.full(len(y), "cat")
    elif case == "labels too few of a class":
        y = y.copy()
        y[:2] = "fox"
    elif case == "labels NaN":
        y = np.where(np.arange(len(y)) == 4, np.nan, 1.0)
    elif case == "labels unhashable":
        y = np.empty(len(y), dtype=object)
        y[:] = [[i % 2] for i in range(len(y))]
    elif case == "rows differ":
        x2 = x2[:-1]
    elif case in ("split unknown value", "split no test"):
        split = np.array(["train", "valid", "test"] * 40)
        split[-1] = "holdout" if case == "split unknown value" else "train"
        if case == "split no test":
            split[split == "test"] = "train"
    elif case == "split and groups":
        split, groups = np.array(["train", "valid", "test"] * 40), np.arange(120) % 10
    elif case == "groups too few":
        groups = np.arange(120) % 2
    message = one_line_error(lambda: check_pairs(x1, x2, y, split, groups), *names)
    if case == "features 4-D":
        assert "reshape" in message


def test_npz_problems_name_the_array_or_the_file(tmp_path):
    x1, x2, y = arrays()
    objects = tmp_path / "objects.npz"
    np.savez(objects, x1=x1.astype(object), x2=x2, y=y)
    one_line_error(lambda: read_pairs(objects), "x1")
    missing = tmp_path / "missing.npz"
    np.savez(missing, x1=x1, y=y)
    assert "'x2'" in one_line_error(lambda: read_pairs(missing), "data")
    extra = tmp_path / "extra.npz"
    np.savez(extra, x1=x1, x2=x2, y=y, weights=y)
    assert "weights" in one_line_error(lambda: read_pairs(extra), "data")
    one_line_error(lambda: read_pairs(tmp_path / "absent.npz"), "data")
    one_line_error(lambda: read_pairs("no_such_module_here:make"), "data")


def test_a_table_beside_a_sequence_becomes_a_sequence_of_one_step():
    x1, x2, y = arrays()
    pairs = check_pairs(x1, x2, y)
    assert pairs.x1.shape == (120, 1, 5) and pairs.kinds == ("sequence", "sequence")
    assert pairs.notes and "x1" in pairs.notes[0]


def test_draws_vary_with_the_seed_and_keep_nested_labelled_subsets():
    x1, x2, y = arrays(n=200)
    pairs = check_pairs(x1, x2[:, 0, :], y)
    a, b = pairs.draw(0), pairs.draw(1)
    assert len(a.train) == pairs.train_size() == 140 and a.num_classes == 3
    assert not np.array_equal(a.test.x1, b.test.x1)  # every seed its own split
    np.testing.assert_array_equal(pairs.draw(0).train.x1, a.train.x1)  # and the same split again
    np.testing.assert_allclose(a.train.x1.mean(axis=0), 0, atol=1e-5)  # z-scored on the training part
    small, larger = pairs.draw(0, n_train=12), pairs.draw(0, n_train=30)
    assert len(small.train) == 12 and np.bincount(small.train.y).tolist() == [4, 4, 4]
    rows_small = {tuple(r) for r in small.train.x1.round(5)}
    assert rows_small <= {tuple(r) for r in larger.train.x1.round(5)}  # nested as the budget grows
    np.testing.assert_array_equal(small.test.x1, a.test.x1)


def test_groups_stay_together_in_one_part():
    x1, x2, y = arrays(n=300)
    groups = np.repeat(np.arange(30), 10)
    pairs = check_pairs(x1, x2[:, 0, :], y, groups=groups)
    for seed in (0, 1):
        parts = pairs.parts(seed)
        assert sorted(np.concatenate(parts).tolist()) == list(range(300))
        seen = [set(groups[p].tolist()) for p in parts]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert pairs.parts(0)[0].tolist() != pairs.parts(1)[0].tolist()


def test_registered_draws_build_through_the_sweep_registry():
    x1, x2, y = arrays()
    pairs = check_pairs(x1, x2[:, 0, :], y)
    try:
        kind = register(pairs)
        built = build_dataset(kind, seed=2, labels=9)
        assert isinstance(built, PairedDataset) and len(built.train) == 9
        assert built.fingerprint() == pairs.draw(2, 9).fingerprint()
        one_line_error(lambda: build_dataset(kind, seed=2, labels="some"), "labels")
    finally:
        unregister_dataset(DATASET_KIND)
