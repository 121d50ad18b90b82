"""Scarce labels: which training examples keep their labels when only a few do.

A labelled set of `n_train` examples is a prefix of one order of the training split (`stratified_order`,
drawn from the dataset's seed on its own stream, `labelled_seed`): stratified by class, holding every class
from as many examples as classes on, and nested as `n_train` grows (`labelled_subset`). `from_arrays`, the
loaders built on it and the synthetic generator take `n_train`; `labelled_dataset` cuts a dataset they
built to fewer labels without building it again, and `labelled_size` turns a share of the training split
into a size.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from alignbook.checks import check_fraction, fail, is_int

if TYPE_CHECKING:
    from alignbook.data.container import PairedDataset


def stratified_order(y: np.ndarray, seed: int) -> np.ndarray:
    """An order of the rows of `y` whose every prefix is stratified by class, and holds every class from
    as many rows as there are classes on.

    Each class's members are shuffled (from `seed`) and member j of a class with N members gets the key
    `(j + 0.5) / N`; the first member of every class comes first, then rows are sorted by key, ties by
    class. A prefix of any length n therefore holds about `n * N / len(y)` members of each class (within a
    little over one example of it for a handful of classes), at least one of each once n reaches the
    number of classes, and the prefix of n rows is contained in the prefix of every longer one. Unless a
    class has three times the members of another, every first member's key is below every other key
    anyway, so putting them first changes the order only where a rare class would have been left out.
    """
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    keys = np.empty(len(y))
    later = np.ones(len(y), dtype=bool)
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        keys[members] = (np.arange(len(members)) + 0.5) / counts[c]
        later[members[0]] = False
    return np.lexsort((inverse, keys, later))


def check_n_train(n_train, available: int, num_classes: int | None) -> int | None:
    """Validate a labelled-set size: None (keep every training example) or an integer from the number of
    classes (1 for regression) up to the `available` training examples."""
    if n_train is None:
        return None
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
        fail("n_train", f"must be an integer number of labelled training examples or None, got "
                        f"{type(n_train).__name__} {n_train!r}")
    smallest = int(num_classes) if num_classes else 1
    if n_train < smallest:
        what = f"the number of classes ({smallest})" if num_classes else "1"
        fail("n_train", f"must be at least {what}, got {n_train}")
    if n_train > available:
        fail("n_train", f"is {n_train} but the training split holds only {available} examples",
             "lower n_train, or give the dataset more examples")
    return int(n_train)


def labelled_subset(y_train: np.ndarray, n_train: int, seed: int, stratify: bool = True) -> np.ndarray:
    """Sorted indices of `n_train` training rows kept as the labelled set: the first `n_train` of
    `stratified_order(y_train, seed)` (classification), or of a permutation drawn from `seed` (regression).

    Growing `n_train` only adds rows (the subsets are nested), and keeping every row returns every index in
    order, so the full labelled set is the training split itself.
    """
    if stratify:
        order = stratified_order(y_train, seed)
    else:
        order = np.random.default_rng(seed).permutation(len(y_train))
    return np.sort(order[:n_train])


def labelled_seed(seed: int) -> int:
    """The seed that draws the labelled subset of a dataset built from `seed` (its own stream)."""
    return int(np.random.SeedSequence([int(seed), 303]).generate_state(1)[0])


def labelled_size(fraction: float, available: int, num_classes: int) -> int:
    """Labelled training examples kept at `fraction` (in (0, 1]) of a training split of `available`: the
    nearest integer, but at least one per class (a stratified subset needs one) and at most `available`."""
    fraction = check_fraction("fraction", fraction, zero=False)
    return min(int(available), max(int(num_classes), int(round(fraction * available))))


def labelled_dataset(dataset: PairedDataset, n_train: int) -> PairedDataset:
    """`dataset` with only `n_train` labelled training examples, its validation and test splits as they
    are; the dataset itself when `n_train` keeps its whole training split.

    The kept rows are those its builder keeps with `n_train` (`labelled_subset` of the training split,
    drawn from `labelled_seed` of `params["seed"]`), so the result equals `from_arrays(..., n_train=n_train)`,
    `load_mfeat(..., n_train=n_train)` or `load_basicmotions(..., n_train=n_train)` with the dataset's own
    arguments, array for array and parameter for parameter, without loading or standardising anything
    again (a synthetic dataset's name does not gain its "n_train=" then). A dataset without a `seed`
    parameter, or already cut to a labelled subset, is refused; `n_train` None keeps every label.
    """
    params = getattr(dataset, "params", None)
    if not isinstance(params, dict) or not is_int(params.get("seed")) or "n_train" in params:
        fail("dataset", "needs a dataset built from a seed with every training label (from_arrays, "
                        "load_mfeat, load_basicmotions, synthetic.make_dataset)",
             "build it again with n_train instead")
    classification = dataset.task == "classification"
    n_train = check_n_train(n_train, len(dataset.train), dataset.num_classes if classification else None)
    if n_train is None or n_train == len(dataset.train):
        return dataset
    kept = labelled_subset(dataset.train.y, n_train, labelled_seed(params["seed"]), stratify=classification)
    return dataclasses.replace(dataset, train=dataset.train.subset(kept), info=dict(dataset.info),
                               params={**params, "n_train": n_train})
