"""Input validation shared by every module: each failure names the parameter and says what to do.

Every bound a parameter has is defined here once (`MAX_SEED`, `MAX_DEPTH`, `MAX_REDUNDANCY`,
`MIN_SYNTHETIC_SAMPLES`) and every kind of parameter is checked by one function, so the notebook
parameters, the sweep specs and the public functions accept exactly the same values:

- numbers: `check_nonnegative`, `check_positive`, `check_positive_int`, `check_int_range`, `check_fraction`,
  and the named ones `check_lam`, `check_seed`, `check_depth`, `check_redundancy`, `check_sample_size`,
  `check_workers`;
- lists: `check_list` (any element check; never empty, never a value twice), `check_shares` (increasing
  fractions ending with the whole);
- names: `check_choice` (one of known names), `check_name_pair` and `check_name_pairs` (pairs of different
  known names, such as two views of a dataset);
- paths: `check_optional_path`;
- a notebook's first cell: `check_parameters`, by the house names of the parameters.

Public functions validate their input at the boundary; the functions they call trust it.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

# Seeds feed numpy's SeedSequence, default_rng and torch.manual_seed; 32 bits is what all of them accept and
# what the legacy generators the synthetic study reproduces (np.random.seed) require.
MAX_SEED = 2**32 - 1
# Heterogeneity depth of the synthetic generator (tanh layers of modality 2's frozen map): deeper maps only
# saturate the tanh further, and 16 is far beyond the studied 0..4.
MAX_DEPTH = 16
# Redundancy of the synthetic generator: how many of its 8 shared bits the label depends on.
MAX_REDUNDANCY = 8
# Samples of the synthetic generator: from 26 on, its stratified 70/15/15 split gives each of train, valid
# and test at least as many examples as its 4 classes (fewer leave the small parts short of a class);
# a test derives the number from `data.split_sizes`.
MIN_SYNTHETIC_SAMPLES = 26
MAX_SAMPLES = 10**9
# Where a sweep trains its runs: this machine's processes, or a Ray cluster
BACKENDS = ("local", "ray")


def fail(param: str, problem: str, hint: str = "") -> None:
    """Raise a ValueError that names the offending parameter, the problem and, when known, the fix."""
    message = f"{param}: {problem}"
    if hint:
        message += f" ({hint})"
    raise ValueError(message)


def is_int(value) -> bool:
    """Whether `value` is an integer (Python or numpy), booleans excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    """Whether `value` is a real number (Python or numpy), booleans excluded."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_nonnegative(param: str, value: float) -> float:
    """Return `value` as a float after checking it is a finite number >= 0 (-0.0 is returned as 0.0: one
    value, one cache key, one duplicate)."""
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        fail(param, f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        fail(param, f"must be a finite number >= 0, got {value!r}")
    return float(value) + 0.0


def check_positive(param: str, value: float, high: float | None = None) -> float:
    """Return `value` as a float after checking it is a finite number > 0 (and <= `high`, when given)."""
    if check_nonnegative(param, value) == 0 or (high is not None and value > high):
        fail(param, f"must be a number in (0, {high:g}], got {value!r}" if high is not None else
                    f"must be a finite number > 0, got {value!r}")
    return float(value)


def check_fraction(param: str, value, zero: bool = True) -> float:
    """Return `value` as a float after checking it is a number in [0, 1] (in (0, 1] without `zero`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (0 <= value <= 1 if zero else 0 < value <= 1):
        fail(param, f"must be a number in {'[' if zero else '('}0, 1], got {value!r}")
    return float(value)


def check_positive_int(param: str, value: int) -> int:
    """Return `value` as an int after checking it is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        fail(param, f"must be a positive integer, got {value!r}")
    return int(value)


def check_int_range(param: str, value: int, low: int, high: int) -> int:
    """Return `value` as an int after checking it is an integer with low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(param, f"must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        fail(param, f"must be in {low}..{high}, got {value!r}")
    return int(value)


def check_lam(param: str, value: float) -> float:
    """An alignment weight `lam`: a finite number >= 0 (0 is independent training); returned as a float."""
    return check_nonnegative(param, value)


def check_seed(param: str, value: int) -> int:
    """A seed: an integer in 0..MAX_SEED, returned as an int."""
    return check_int_range(param, value, 0, MAX_SEED)


def check_depth(param: str, value: int) -> int:
    """A heterogeneity depth of the synthetic generator: an integer in 0..MAX_DEPTH, returned as an int."""
    return check_int_range(param, value, 0, MAX_DEPTH)


def check_redundancy(param: str, value: int) -> int:
    """A redundancy level of the synthetic generator: an integer in 0..MAX_REDUNDANCY, returned as an int."""
    return check_int_range(param, value, 0, MAX_REDUNDANCY)


def check_sample_size(param: str, value: int) -> int:
    """A sample size of the synthetic generator: an integer in MIN_SYNTHETIC_SAMPLES..MAX_SAMPLES."""
    return check_int_range(param, value, MIN_SYNTHETIC_SAMPLES, MAX_SAMPLES)


def to_numpy(param: str, array) -> np.ndarray:
    """Accept a numpy array or a torch tensor (any device) and return a numpy array."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except Exception as exc:  # pragma: no cover - numpy's own message is kept
        fail(param, f"cannot be converted to an array ({exc})")


def check_finite(param: str, array: np.ndarray) -> np.ndarray:
    """Return `array` after checking that a numeric array holds no NaN or infinite value."""
    if np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        fail(param, f"contains {bad} non-finite values (NaN or inf)", "clean or impute them before use")
    return array


def check_same_rows(**arrays: np.ndarray) -> int:
    """Check that every array has the same number of rows; return that number."""
    rows = {name: int(np.shape(a)[0]) if np.ndim(a) else -1 for name, a in arrays.items()}
    if len(set(rows.values())) != 1:
        described = ", ".join(f"{name} has {n}" for name, n in rows.items())
        fail("/".join(rows), f"arrays must have the same number of rows: {described}")
    return next(iter(rows.values()))


def check_workers(param: str, value) -> int | str:
    """A number of worker processes: a positive integer, or 'auto' (one per core)."""
    if value == "auto":
        return value
    if not is_int(value) or value < 1:
        fail(param, f"must be a positive integer or 'auto', got {value!r}")
    return int(value)


def literal_list(param: str, value) -> list:
    """A list parameter, also when papermill passes it as text: `-p seeds "[0, 1]"` arrives as the string
    '[0, 1]', which is read strictly as a Python list literal (`ast.literal_eval`: no names, calls or
    arithmetic). A list or tuple is returned as a list; anything else fails, naming `param`."""
    if isinstance(value, str):
        text = value
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            fail(param, f"must be a list, got the text {text!r}, which is not a list literal",
                 "write it like [0, 1, 2]")
        if not isinstance(value, list):
            fail(param, f"must be a list, got the text {text!r}", "write it like [0, 1, 2]")
    if not isinstance(value, (list, tuple)):
        fail(param, f"must be a list, got {type(value).__name__} {value!r}")
    return list(value)


def check_list(param: str, values, check: Callable, increasing: bool = False) -> list:
    """A non-empty list (text from papermill is read as a list literal, `literal_list`) whose every element
    passes `check(param, element)`, which returns the element checked; returned as those checked values.
    A value given twice is refused (compared after checking, so 0.0 and -0.0 are one `lam`); with
    `increasing`, so is a list out of increasing order."""
    values = literal_list(param, values)
    if not values:
        fail(param, "must be a non-empty list")
    checked: list = []
    for value in values:
        value = check(param, value)
        if value in checked:
            fail(param, f"contains {value!r} more than once", "give each value once")
        checked.append(value)
    if increasing and checked != sorted(checked):
        fail(param, f"must be increasing, without repeats, got {values!r}")
    return checked


def check_shares(param: str, values) -> list[float]:
    """Increasing shares of a whole, each in (0, 1], ending with 1 (the whole itself), as floats."""
    shares = check_list(param, values, lambda p, v: check_fraction(p, v, zero=False), increasing=True)
    if shares[-1] != 1:
        fail(param, f"must end with 1.0, the whole, got {shares!r}",
             "the smaller shares are compared with it")
    return shares


def check_choice(param: str, value, known: Sequence[str]):
    """One of the names in `known`, returned as it is."""
    if not isinstance(value, str) or value not in known:
        fail(param, f"must be one of {list(known)}, got {value!r}")
    return value


def check_name_pair(param: str, value, known: Sequence[str]) -> tuple[str, str]:
    """Two different names from `known` (such as two views or modalities of a dataset), as a tuple; text
    from papermill is read as a list literal."""
    pair = literal_list(param, value)
    if len(pair) != 2 or not all(isinstance(v, str) and v in known for v in pair) or pair[0] == pair[1]:
        fail(param, f"must be two different names from {list(known)}, got {value!r}")
    return tuple(pair)


def check_name_pairs(param: str, values, known: Sequence[str]) -> list[tuple[str, str]]:
    """A non-empty list of distinct pairs of different names from `known` (`check_name_pair`)."""
    def pair(param: str, value) -> tuple[str, str]:
        if isinstance(value, str):  # not read as a list literal: an entry is a pair, not text
            fail(param, f"each entry must be a pair of names from {list(known)}, got {value!r}")
        return check_name_pair(param, value, known)

    return check_list(param, values, pair)


def check_optional_path(param: str, value, kind: str) -> str:
    """An empty string (nothing to load) or the path of an existing `kind` ('file' or 'folder')."""
    if kind not in ("file", "folder"):
        fail("kind", f"must be 'file' or 'folder', got {kind!r}")
    if not isinstance(value, str):
        fail(param, f"must be a path as a string ('' for none), got {type(value).__name__} {value!r}")
    path = Path(value)
    if value and not path.exists():
        fail(param, f"{value} does not exist", f"give the path of the {kind}, or '' to skip it")
    if value and path.is_dir() != (kind == "folder"):
        found = "a folder" if path.is_dir() else "a file"
        fail(param, f"{value} is {found}, not a {kind}", f"give the path of the {kind}, or '' to skip it")
    return value


def check_parameters(**values) -> dict:
    """Validate a notebook's parameters by their house names, before any work starts; return them checked.

    Papermill injects parameters as plain literals, so a typo such as `-p lam -1` or `-p redundancy 11`
    must stop the notebook in its first cell with a message naming the parameter, not deep in training.
    A name with a prefix follows the rule of its house name (`real_lams` that of `lams`). Lists passed as
    text are returned as lists (`literal_list`): a notebook rebinds its parameters to the returned values.
    Names outside the vocabulary are returned unchanged.
    """
    scalar_rules = {
        "lam": check_lam, "redundancy": check_redundancy, "depth": check_depth,
        "seed": check_seed, "num_epochs": check_positive_int, "n_samples": check_sample_size,
        "batch_size": check_positive_int, "lr": check_positive, "temperature": check_positive,
        "workers": check_workers, "backend": lambda param, value: check_choice(param, value, BACKENDS),
    }
    list_rules = {"lams": check_lam, "redundancies": check_redundancy, "depths": check_depth,
                  "seeds": check_seed}
    checked = {}
    for name, value in values.items():
        house = name if name in scalar_rules or name in list_rules else name.partition("_")[2]
        if house in scalar_rules:
            scalar_rules[house](name, value)
        elif house in list_rules:
            value = check_list(name, value, list_rules[house])
        checked[name] = value
    return checked


class NotebookParameters:
    """Base of a chapter's parameters: one validated, immutable object instead of loose notebook variables.

    A chapter declares `@dataclass(frozen=True) class Parameters(NotebookParameters)` with one field per name
    of its `parameters` cell, and builds it in the cell after: `p = Parameters.from_namespace(globals())`
    takes the fields from the notebook's variables (papermill's injected values included). Construction checks
    every field by its house name (`check_parameters`: lists passed as text become lists) and then the
    chapter's own rules (`check`, which may normalise a field with `set`); the chapter then reads `p.lams`,
    `p.seeds`, ... A bad value stops the notebook in that cell with a message naming the parameter.
    """

    def __post_init__(self):
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in check_parameters(**values).items():
            self.set(name, value)
        self.check()

    def check(self) -> None:
        """The chapter's own rules beyond the house names (override; call `set` to store a normalised
        value)."""

    def set(self, name: str, value) -> None:
        """Store the checked form of field `name` (the object stays immutable to its readers)."""
        object.__setattr__(self, name, value)

    @classmethod
    def from_namespace(cls, namespace: Mapping):
        """The parameters named by the fields of `cls`, taken from `namespace` (a notebook's `globals()`)."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in namespace]
        if missing:
            fail(missing[0], "is missing from the parameters cell", f"the chapter expects {', '.join(names)}")
        return cls(**{name: namespace[name] for name in names})
