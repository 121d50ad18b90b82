"""Users' own paired data in the formats users have, checked once and drawn into a `PairedDataset` per seed.

`read_pairs(source)` reads

- an `.npz` file with arrays `x1`, `x2` and `y`, optionally `split` (one of "train", "valid", "test" per
  row: a fixed split) or `groups` (rows of one group stay in one part of every split);
- three `.npy` files: the features of each modality and the labels (a sequence of three paths, or one
  text with the three paths separated by commas);
- `"module:function"`: a function of no arguments that returns a `PairedDataset` (its split is kept);
- `"mfeat:VIEW,VIEW"`: two views of UCI Multiple Features that the package ships (the book's worked example).

Labels of any hashable type become class codes 0..K-1, their names kept (`class_names`). A 2-D array is a
feature table `(n, features)`, a 3-D array a sequence `(n, steps, channels)`; anything else is refused with
the reshape that fixes it. A table paired with a sequence becomes a sequence of one step, so that one kind
of encoder serves both modalities. Every problem is a one-line `ValueError` naming the array.

`UserPairs.draw(seed, n_train)` is the dataset one run trains on: the split (stratified by class) and the
labelled subset drawn from `seed` unless the data fix the split, features z-scored with the training part's
statistics. `register(pairs)` makes those draws a dataset kind of the sweep registry, so that a sweep with
`data_seed: seed` gives every seed its own draw.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np

from alignbook.checks import check_seed, fail, to_numpy
from alignbook.data.container import (
    MIN_CLASS_MEMBERS,
    MIN_SAMPLES,
    PairedDataset,
    PairedSplit,
    check_split,
    split_indices,
    split_sizes,
    standardize,
)
from alignbook.data.labelled import check_n_train, labelled_seed, labelled_subset
from alignbook.data.registry import register_dataset

SPLIT_NAMES = ("train", "valid", "test")
NPZ_ARRAYS = ("x1", "x2", "y")
NPZ_OPTIONAL = ("split", "groups")
DEFAULT_SPLIT = (0.7, 0.15, 0.15)
KINDS = {2: "table", 3: "sequence"}
DATASET_KIND = "user_pairs"  # the sweep registry's name of the draws of the pairs last registered
_BOOK_PAIR = re.compile(r"mfeat:(\w+),(\w+)\Z")
_FUNCTION = re.compile(r"([A-Za-z_][\w.]*):([A-Za-z_]\w*)\Z")


@dataclass(frozen=True, eq=False)
class UserPairs:
    """A user's paired examples, checked: features `x1`, `x2` (tables or sequences), class codes `y`, the
    names of the classes, and how the data are split: `split` (codes 0, 1, 2 for train, valid, test) when
    the data fix it, else `groups` (codes) when rows of a group must stay together, else neither (a
    stratified split per seed). `notes` say what was changed on reading (a table turned into a sequence)."""

    x1: np.ndarray
    x2: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    name: str
    source: str
    modalities: tuple[str, str] = ("x1", "x2")
    split: np.ndarray | None = None
    groups: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def kinds(self) -> tuple[str, str]:
        """'table' or 'sequence' for each modality."""
        return KINDS[self.x1.ndim], KINDS[self.x2.ndim]

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(self.x1.shape[1:]), tuple(self.x2.shape[1:])

    @property
    def split_rule(self) -> str:
        """How the parts are made: "fixed", "groups" or "stratified"."""
        return "fixed" if self.split is not None else "groups" if self.groups is not None else "stratified"

    def fingerprint(self) -> str:
        """A short hash of every array: equal fingerprints mean equal data."""
        digest = hashlib.blake2b(digest_size=12)
        for array in (self.x1, self.x2, self.y, self.split, self.groups):
            array = np.ascontiguousarray(array if array is not None else np.zeros(0))
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def parts(self, seed: int, fractions=DEFAULT_SPLIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row indices of the train, valid and test parts for `seed` (the fixed split whatever the seed)."""
        if self.split is not None:
            return tuple(np.flatnonzero(self.split == code) for code in range(3))
        if self.groups is not None:
            return group_parts(self.groups, check_split(fractions), seed)
        return split_indices(self.y, check_split(fractions), seed, stratify=True)

    def train_size(self, seed: int = 0, fractions=DEFAULT_SPLIT) -> int:
        """Examples in the training part (for grouped splits, that of `seed`: it varies with the seed)."""
        if self.split is None and self.groups is None:
            return split_sizes(len(self), check_split(fractions))[0]
        return len(self.parts(seed, fractions)[0])

    def draw(self, seed: int = 0, n_train: int | None = None, fractions=DEFAULT_SPLIT) -> PairedDataset:
        """The dataset a run with `seed` trains on: its parts (`parts`), each modality z-scored with the
        training part's statistics, and `n_train` labelled training examples (None: all) kept by
        `labelled_subset` from `labelled_seed(seed)` (stratified by class, nested as `n_train` grows)."""
        seed = check_seed("seed", seed)
        parts = self.parts(seed, fractions)
        n_train = check_n_train(n_train, len(parts[0]), self.num_classes)
        x1s = standardize(*(self.x1[p] for p in parts), param="x1")
        x2s = standardize(*(self.x2[p] for p in parts), param="x2")
        splits = [PairedSplit(a, b, self.y[p]) for a, b, p in zip(x1s, x2s, parts, strict=True)]
        if n_train is not None and n_train < len(splits[0]):
            splits[0] = splits[0].subset(labelled_subset(splits[0].y, n_train, labelled_seed(seed)))
        params = {"source": self.source, "seed": seed, "split": self.split_rule, "n_train": n_train}
        info = {"class_labels": list(self.class_names), "modalities": list(self.modalities)}
        return PairedDataset(*splits, task="classification", num_classes=self.num_classes, name=self.name,
                             info=info, params=params)

    def __repr__(self) -> str:
        shapes = " & ".join(str(s) for s in self.input_shapes)
        return (f"UserPairs({self.name!r}, n={len(self)}, {self.num_classes} classes, x1 & x2 {shapes}, "
                f"{self.split_rule} split)")


def group_parts(groups: np.ndarray, fractions: tuple[float, float, float],
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, valid and test rows with every group in one part: the groups in an order drawn from `seed`
    fill the training part until it holds the first fraction of the rows, then the validation part."""
    order = np.random.default_rng([seed, 404]).permutation(int(groups.max()) + 1)
    sizes = np.bincount(groups, minlength=len(order))[order]
    ends = np.cumsum(sizes) / len(groups)
    part_of_group = np.empty(len(order), dtype=np.int64)
    part_of_group[order] = np.searchsorted([fractions[0], fractions[0] + fractions[1]], ends - 1e-12)
    part = part_of_group[groups]
    for code in range(3):
        if not (part == code).any():
            fail("groups", f"{len(order)} groups of these sizes leave the {SPLIT_NAMES[code]} part empty",
                 "give more, smaller groups, or a fixed split")
    return tuple(np.flatnonzero(part == code) for code in range(3))


# --------------------------------------------------------------------------------------------------------
# checks of the arrays


def check_features(name: str, x) -> np.ndarray:
    """A feature table `(n, features)` or sequence `(n, steps, channels)` of finite numbers."""
    x = to_numpy(name, x)
    if x.dtype.kind == "O":
        fail(name, "holds Python objects (dtype object), not numbers",
             f"convert it to a numeric array first, e.g. np.asarray({name}, dtype=np.float32)")
    if x.dtype.kind not in "biuf":
        fail(name, f"must hold numbers, got dtype {x.dtype}", "convert or encode the features as numbers")
    if x.ndim == 1:
        fail(name, f"has shape {x.shape}: a feature table needs shape (n, features)",
             f"for one feature per example use {name}.reshape(-1, 1)")
    if x.ndim not in KINDS:
        fail(name, f"has shape {x.shape}: expected a table (n, features) or a sequence (n, steps, channels)",
             f"flatten the other axes, e.g. {name}.reshape(len({name}), -1), or merge them into channels")
    if 0 in x.shape[1:]:
        fail(name, f"has no features: shape {x.shape}", "each example needs at least one value")
    if not np.isfinite(x).all():
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        fail(name, f"contains {bad} non-finite values (NaN or inf)", "clean or impute them first")
    return x


def class_codes(name: str, y) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 0..K-1 of labels of any hashable type (sorted where they compare, else in order of first
    appearance), and the names of the classes as text."""
    y = to_numpy(name, y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        fail(name, f"must hold one label per example, shape (n,), got shape {y.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        fail(name, "contains NaN or infinite labels", "drop those examples or give them a class")
    values = y.tolist()
    try:
        distinct = list(dict.fromkeys(values))
    except TypeError:
        bad = next(v for v in values if not _hashable(v))
        fail(name, f"holds labels that cannot be classes, such as {bad!r} ({type(bad).__name__})",
             "use one number or text per example")
    if any(isinstance(v, float) and v != v for v in distinct):
        fail(name, "contains NaN labels", "drop those examples or give them a class")
    try:
        distinct = sorted(distinct)
    except TypeError:
        pass  # labels of mixed types keep the order in which they first appear
    code_of = {value: code for code, value in enumerate(distinct)}
    return np.array([code_of[v] for v in values], dtype=np.int64), tuple(str(v) for v in distinct)


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_pairs(x1, x2, y, split=None, groups=None, *, name: str = "pairs", source: str = "",
                modalities: tuple[str, str] = ("x1", "x2"), class_names: tuple[str, ...] | None = None,
                names: tuple[str, str, str] = NPZ_ARRAYS) -> UserPairs:
    """Check paired arrays and return them as `UserPairs` (module docstring); `names` are the arrays'
    names in messages (file names for `.npy` files). `class_names`, when given, names the codes `y`."""
    a, b = check_features(names[0], x1), check_features(names[1], x2)
    codes, found = class_codes(names[2], y)
    class_names = tuple(class_names) if class_names is not None and len(class_names) == len(found) else found
    rows = {names[0]: len(a), names[1]: len(b), names[2]: len(codes)}
    if len(set(rows.values())) != 1:
        fail("/".join(rows), "must have one row per example each: "
             + ", ".join(f"{k} has {v}" for k, v in rows.items()))
    if len(codes) < MIN_SAMPLES:
        fail(names[2], f"has {len(codes)} examples; a train/valid/test split needs at least {MIN_SAMPLES}")
    counts = np.bincount(codes, minlength=len(class_names))
    if (counts > 0).sum() < 2:
        fail(names[2], f"has a single class ({class_names[int(np.argmax(counts))]!r})",
             "alignment is judged on a classification task with at least two classes")
    if counts.min() < MIN_CLASS_MEMBERS:
        rare = [class_names[c] for c in np.flatnonzero(counts < MIN_CLASS_MEMBERS)]
        fail(names[2], f"classes {rare} have fewer than {MIN_CLASS_MEMBERS} examples, too few for a train, "
                       "a validation and a test part", "merge or drop the rare classes")
    if split is not None and groups is not None:
        fail("groups", "cannot be combined with split: a fixed split already decides the parts",
             "give one of them")
    notes = []
    if a.ndim != b.ndim:  # one kind of encoder for both: the table becomes a sequence of one step
        table = names[0] if a.ndim == 2 else names[1]
        a, b = (a[:, None, :], b) if a.ndim == 2 else (a, b[:, None, :])
        notes.append(f"{table} (a table) is given to the sequence encoder as a sequence of one step")
    pairs = UserPairs(a, b, codes, class_names, name, source, tuple(modalities),
                      _split_codes(split, len(codes)) if split is not None else None,
                      _group_codes(groups, len(codes)) if groups is not None else None, tuple(notes))
    if pairs.split is not None:
        trained = set(codes[pairs.split == 0].tolist())
        missing = [class_names[c] for c in range(len(class_names)) if c not in trained]
        if missing:
            fail("split", f"its train part has no example of classes {missing}",
                 "move some of them into the train part")
    elif pairs.groups is not None:
        pairs.parts(0)  # groups that cannot fill three parts fail here, naming groups
    return pairs


def _split_codes(split, n: int) -> np.ndarray:
    split = to_numpy("split", split)
    if split.ndim != 1 or len(split) != n:
        fail("split", f"must hold one of {list(SPLIT_NAMES)} per example, shape ({n},), got shape "
                      f"{split.shape}")
    if split.dtype.kind == "S":
        split = np.char.decode(split)
    if split.dtype.kind not in "UO":
        fail("split", f"must hold the text {list(SPLIT_NAMES)} per example, got dtype {split.dtype}")
    text = np.asarray([str(v) for v in split.tolist()])
    unknown = sorted(set(text.tolist()) - set(SPLIT_NAMES))
    if unknown:
        fail("split", f"holds {unknown[:3]}; expected only {list(SPLIT_NAMES)}")
    codes = np.array([SPLIT_NAMES.index(v) for v in text.tolist()], dtype=np.int64)
    empty = [SPLIT_NAMES[c] for c in range(3) if not (codes == c).any()]
    if empty:
        fail("split", f"has no {empty[0]!r} example", "every part needs at least one example")
    return codes


def _group_codes(groups, n: int) -> np.ndarray:
    groups = to_numpy("groups", groups)
    if groups.ndim != 1 or len(groups) != n:
        fail("groups", f"must hold one group per example, shape ({n},), got shape {groups.shape}")
    codes, names = class_codes("groups", groups)
    if len(names) < 3:
        fail("groups", f"has {len(names)} groups; train, validation and test need at least 3")
    return codes


# --------------------------------------------------------------------------------------------------------
# reading the formats


def read_pairs(source, name: str | None = None) -> UserPairs:
    """The user's pairs from `source` (module docstring: an `.npz` path, three `.npy` paths, "module:function"
    or "mfeat:VIEW,VIEW"), checked; `name` labels them in tables (default: from the source)."""
    if isinstance(source, PairedDataset):
        return _from_dataset(source, name or source.name, source.name)
    if isinstance(source, (list, tuple)):
        if len(source) != 3:
            fail("data", f"expected three .npy files (x1, x2, y), got {len(source)} paths")
        return _read_npy([Path(p) for p in source], name)
    if not isinstance(source, (str, os.PathLike)) or not str(source).strip():
        fail("data", f"must be a path or 'module:function', got {source!r}")
    text = str(source).strip()
    if "," in text and not _BOOK_PAIR.match(text):
        return read_pairs(text.split(","), name)
    book = _BOOK_PAIR.match(text)
    if book:
        return _book_pair(book.group(1), book.group(2), name)
    path = Path(text)
    if path.suffix == ".npz" or path.is_file():
        return _read_npz(path, name)
    function = _FUNCTION.match(text)
    if function:
        return _call(function.group(1), function.group(2), name)
    fail("data", f"{text} is neither a file nor 'module:function'",
         "give an .npz file, three .npy files, or a function that returns a PairedDataset")


def _read_npz(path: Path, name: str | None) -> UserPairs:
    if not path.is_file():
        fail("data", f"{path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        fail("data", f"{path} cannot be read as an .npz file ({exc})", "save it with np.savez")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        fail("data", f"{path} holds one array, not an .npz archive",
             "save the arrays with np.savez(path, x1=x1, x2=x2, y=y)")
    with archive:
        found = set(archive.files)
        missing = [k for k in NPZ_ARRAYS if k not in found]
        if missing:
            fail("data", f"{path} has no array {missing[0]!r} (it holds {sorted(found)})",
                 "save it with np.savez(path, x1=x1, x2=x2, y=y)")
        unknown = sorted(found - set(NPZ_ARRAYS) - set(NPZ_OPTIONAL))
        if unknown:
            fail("data", f"{path} holds arrays {unknown} besides x1, x2, y",
                 f"only {list(NPZ_OPTIONAL)} may be added")
        arrays = {key: _load_member(archive, key) for key in sorted(found)}
    return check_pairs(arrays["x1"], arrays["x2"], arrays["y"], arrays.get("split"), arrays.get("groups"),
                       name=name or path.stem, source=str(path))


def _load_member(archive, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError:  # numpy refuses pickled object arrays without allow_pickle
        fail(key, "holds Python objects (dtype object), which an .npz file keeps only pickled",
             "save numbers (features) or text (labels): np.asarray(values, dtype=str) for labels")


def _read_npy(paths: list[Path], name: str | None) -> UserPairs:
    arrays = []
    for path in paths:
        if not path.is_file():
            fail("data", f"{path} does not exist")
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except ValueError:
            fail(path.name, "holds Python objects (dtype object), which a .npy file keeps only pickled",
                 "save numbers (features) or text (labels)")
        except (OSError, EOFError) as exc:
            fail("data", f"{path} cannot be read as a .npy file ({exc})", "save it with np.save")
    return check_pairs(*arrays, name=name or paths[0].stem, source=",".join(str(p) for p in paths),
                       modalities=(paths[0].stem, paths[1].stem), names=tuple(p.name for p in paths))


def _call(module_name: str, function_name: str, name: str | None) -> UserPairs:
    target = f"{module_name}:{function_name}"
    try:
        function = getattr(import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        fail("data", f"{target} cannot be imported ({exc})")
    dataset = function()
    if not isinstance(dataset, PairedDataset):
        fail("data", f"{target}() returned {type(dataset).__name__}, not a PairedDataset")
    return _from_dataset(dataset, name or dataset.name, target)


def _from_dataset(dataset: PairedDataset, name: str, source: str) -> UserPairs:
    """A `PairedDataset`'s rows with its split kept (fixed)."""
    if dataset.task != "classification":
        fail("data", f"{name} is a {dataset.task} dataset; the advice is for classification")
    splits = list(dataset.splits.values())
    split = np.concatenate([np.full(len(s), SPLIT_NAMES[i]) for i, s in enumerate(splits)])
    labels = dataset.info.get("class_labels")
    names = [str(v) for v in labels] if labels and len(labels) == dataset.num_classes else None
    return check_pairs(*(np.concatenate([getattr(s, a) for s in splits]) for a in NPZ_ARRAYS), split,
                       name=name, source=source, modalities=dataset.modality_names, class_names=names)


def _book_pair(first: str, second: str, name: str | None) -> UserPairs:
    """Two mfeat views, all 2,000 digits pooled (no fixed split: every seed draws its own)."""
    from alignbook.data.loaders import load_mfeat

    try:
        dataset = load_mfeat((first, second), seed=0)
    except ValueError as exc:
        fail("data", str(exc))
    splits = list(dataset.splits.values())
    x1, x2, y = (np.concatenate([getattr(s, a) for s in splits]) for a in NPZ_ARRAYS)
    return check_pairs(x1, x2, y, name=name or f"mfeat {first}-{second}", source=f"mfeat:{first},{second}",
                       modalities=(first, second))


# --------------------------------------------------------------------------------------------------------
# the sweep registry


def draw_pairs(pairs: UserPairs, seed: int = 0, labels: int | str = "all") -> PairedDataset:
    """`pairs.draw(seed, n_train)` with `labels` labelled training examples ("all": the whole training
    part): the builder of the registry's `DATASET_KIND`."""
    if labels != "all" and (isinstance(labels, bool) or not isinstance(labels, (int, np.integer))):
        fail("labels", f"must be 'all' or a number of labelled examples, got {labels!r}")
    return pairs.draw(seed, None if labels == "all" else int(labels))


def register(pairs: UserPairs) -> str:
    """Make the draws of `pairs` the sweep registry's dataset kind `DATASET_KIND` (parameters `seed`,
    `labels`), replacing the pairs registered before; returns the kind. The runs' cache keys hold the data's
    fingerprint, so runs of other data are never confused with these."""
    register_dataset(DATASET_KIND, functools.partial(draw_pairs, pairs))
    return DATASET_KIND
