"""Input validation shared by every module: each failure names the parameter and says what to do.

Every bound a parameter has is defined here once (`MAX_SEED`, `MAX_DEPTH`, `MAX_REDUNDANCY`) and checked by
one function (`check_seed`, `check_depth`, `check_redundancy`, `check_lam`), so the notebook parameters, the
sweep specs and the public functions accept exactly the same values. Public functions validate their
input at the boundary; the functions they call trust it.
"""

from __future__ import annotations

import ast
import math

import numpy as np

# Seeds feed numpy's SeedSequence, default_rng and torch.manual_seed; 32 bits is what all of them accept and
# what the legacy generators the synthetic study reproduces (np.random.seed) require.
MAX_SEED = 2**32 - 1
# Heterogeneity depth of the synthetic generator (tanh layers of modality 2's frozen map): deeper maps only
# saturate the tanh further, and 16 is far beyond the studied 0..4.
MAX_DEPTH = 16
# Redundancy of the synthetic generator: how many of its 8 shared bits the label depends on.
MAX_REDUNDANCY = 8


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


def _check_number_list(param: str, values, check) -> list:
    values = literal_list(param, values)
    if not values:
        fail(param, "must be a non-empty list")
    for value in values:
        check(param, value)
    return values


def check_parameters(**values) -> dict:
    """Validate a notebook's parameters by their house names, before any work starts; return them checked.

    Papermill injects parameters as plain literals, so a typo such as `-p lam -1` or `-p redundancy 11`
    must stop the notebook in its first cell with a message naming the parameter, not deep in training.
    A name with a prefix follows the rule of its house name (`real_lams` that of `lams`). Lists passed as
    text are returned as lists (`literal_list`): a notebook rebinds its parameters to the returned values.
    Names outside the vocabulary are returned unchanged.
    """
    def positive_number(param, v):
        if check_nonnegative(param, v) == 0:
            fail(param, f"must be > 0, got {v!r}")

    scalar_rules = {
        "lam": check_lam, "redundancy": check_redundancy, "depth": check_depth,
        "seed": check_seed, "num_epochs": check_positive_int, "n_samples": check_positive_int,
        "batch_size": check_positive_int, "lr": positive_number, "temperature": positive_number,
        "workers": check_workers,
    }
    list_rules = {"lams": check_lam, "redundancies": check_redundancy, "depths": check_depth,
                  "seeds": check_seed}
    checked = {}
    for name, value in values.items():
        house = name if name in scalar_rules or name in list_rules else name.partition("_")[2]
        if house in scalar_rules:
            scalar_rules[house](name, value)
        elif house in list_rules:
            value = _check_number_list(name, value, list_rules[house])
        checked[name] = value
    return checked
