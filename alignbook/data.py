"""Paired datasets: one container for synthetic, real and user-supplied data.

Every trainer, sweep and analysis function takes a `PairedDataset`: three `PairedSplit`s (train, valid, test)
holding the two modalities `x1`, `x2` and the target `y`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from alignbook.checks import check_same_rows, fail

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
        if self.task == "classification" and not self.num_classes:
            labels = np.concatenate([self.train.y, self.valid.y, self.test.y])
            object.__setattr__(self, "num_classes", int(labels.max()) + 1)

    @property
    def splits(self) -> dict[str, PairedSplit]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

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


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train / valid / test sizes: train and valid are rounded, test takes the rest."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        fail("split", f"must be three positive fractions summing to 1, got {fractions!r}")
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    return n_train, n_valid, n - n_train - n_valid


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


def standardize(train: np.ndarray, *others: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, ...]:
    """z-score every array with the train array's per-feature mean and standard deviation."""
    axes = tuple(range(train.ndim - 1))  # per feature: pool over samples (and time steps for sequences)
    mean = train.mean(axis=axes, keepdims=True)
    std = train.std(axis=axes, keepdims=True)
    std = np.where(std < eps, 1.0, std)  # constant features stay finite
    return tuple(((a - mean) / std).astype(np.float32) for a in (train, *others))
