"""Input validation shared by every module: each failure names the parameter and says what to do."""

from __future__ import annotations

import math

import numpy as np


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
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        fail(param, f"expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        fail(param, f"must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive_int(param: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        fail(param, f"must be a positive integer, got {value!r}")
    return int(value)


def check_int_range(param: str, value: int, low: int, high: int) -> int:
    """Check low <= value <= high for an integer value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(param, f"must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        fail(param, f"must be in {low}..{high}, got {value!r}")
    return int(value)


def to_numpy(param: str, array) -> np.ndarray:
    """Accept a numpy array or a torch tensor (any device) and return a numpy array."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except Exception as exc:  # pragma: no cover - numpy's own message is kept
        fail(param, f"cannot be converted to an array ({exc})")


def check_finite(param: str, array: np.ndarray) -> np.ndarray:
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


def _check_number_list(param: str, values, check) -> None:
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        fail(param, f"must be a non-empty list, got {values!r}")
    for value in values:
        check(param, value)


def check_parameters(**values) -> None:
    """Validate a notebook's parameters by their house names, before any work starts.

    Papermill injects parameters as plain literals, so a typo such as `-p lam -1` or `-p redundancy 11`
    must stop the notebook in its first cell with a message naming the parameter, not deep in training.
    Names outside the fixed vocabulary are not checked here.
    """
    def redundancy_check(param, v):
        check_int_range(param, v, 0, 8)

    def depth_check(param, v):
        check_int_range(param, v, 0, 16)

    def seed_check(param, v):
        check_int_range(param, v, 0, 2**32 - 1)

    def positive_number(param, v):
        if check_nonnegative(param, v) == 0:
            fail(param, f"must be > 0, got {v!r}")

    scalar_rules = {
        "lam": check_nonnegative, "redundancy": redundancy_check, "depth": depth_check,
        "seed": seed_check, "num_epochs": check_positive_int, "n_samples": check_positive_int,
        "batch_size": check_positive_int, "lr": positive_number, "temperature": positive_number,
    }
    list_rules = {"lams": check_nonnegative, "redundancies": redundancy_check, "depths": depth_check,
                  "seeds": seed_check}
    for name, value in values.items():
        if name in scalar_rules:
            scalar_rules[name](name, value)
        elif name in list_rules:
            _check_number_list(name, value, list_rules[name])
