"""Paired data: the container every trainer takes, the real-data loaders, the synthetic generator, and the
registry of dataset kinds a sweep can build.

`container` holds `PairedDataset` / `PairedSplit` and `from_arrays` (the user's own arrays), `labelled`
which training examples keep their labels when few do, `loaders` the real datasets, `stored` the real
datasets kept on disk once loaded (pairs of mfeat views by name), `synthetic` the generator with known
information content (imported on use: it needs torch), `registry` the kinds sweep specs may name. Their
public names are re-exported here.
"""

from alignbook.data.container import (
    MIN_CLASS_MEMBERS,
    MIN_SAMPLES,
    TASKS,
    PairedDataset,
    PairedSplit,
    check_split,
    from_arrays,
    split_indices,
    split_sizes,
    standardize,
)
from alignbook.data.labelled import labelled_dataset, labelled_size
from alignbook.data.loaders import (
    AVMNIST_TRAIN_FRACTION,
    BASICMOTIONS_PACKAGES,
    BASICMOTIONS_REQUIREMENT,
    MFEAT_DIMS,
    MFEAT_VIEWS,
    MULTIBENCH_MODALITIES,
    MULTIBENCH_SPLITS,
    load_avmnist,
    load_basicmotions,
    load_mfeat,
    load_multibench,
    read_ts,
)
from alignbook.data.registry import build_dataset, dataset_kinds, register_dataset
from alignbook.data.stored import mfeat_datasets

__all__ = [
    "AVMNIST_TRAIN_FRACTION", "BASICMOTIONS_PACKAGES", "BASICMOTIONS_REQUIREMENT", "MFEAT_DIMS",
    "MFEAT_VIEWS", "MIN_CLASS_MEMBERS", "MIN_SAMPLES", "MULTIBENCH_MODALITIES", "MULTIBENCH_SPLITS",
    "TASKS", "PairedDataset", "PairedSplit", "build_dataset", "check_split", "dataset_kinds", "from_arrays",
    "labelled_dataset", "labelled_size", "load_avmnist", "load_basicmotions", "load_mfeat", "load_multibench",
    "mfeat_datasets", "read_ts", "register_dataset", "split_indices", "split_sizes", "standardize",
]
