"""What the metrics take: checks of representations and options, and the reference's preprocessing.

Public functions of the metrics package validate their input here, at the boundary (each failure a
ValueError naming the parameter); the computations they call trust it. `clipped_unit_rows` is the
preprocessing that `similarity.prepare` exposes, with the parameter name errors should use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from alignbook.checks import check_finite, check_positive_int, check_same_rows, fail, to_numpy

# The reference's smallest row norm: `prepare` divides by max(norm, this), as torch.nn.functional.normalize.
NORM_FLOOR = 1e-12


def as_matrix(param: str, z) -> np.ndarray:
    """A finite float64 (n, d) array from a numpy array or torch tensor, or a ValueError naming `param`."""
    array = to_numpy(param, z)
    if array.ndim != 2:
        fail(param, f"expected a 2-d array of shape (n, d), got shape {array.shape}",
             "reshape one feature per example with z[:, None]")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        fail(param, f"expected real numbers, got dtype {array.dtype}")
    check_finite(param, array)
    if array.shape[1] == 0:
        fail(param, "has no features (shape (n, 0))")
    return np.ascontiguousarray(array, dtype=np.float64)


def pair(z1, z2, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both representations as float64 arrays, checked to describe the same (enough) examples."""
    a, b = as_matrix("z1", z1), as_matrix("z2", z2)
    n = check_same_rows(z1=a, z2=b)
    if n < min_rows:
        fail("z1/z2", f"need at least {min_rows} examples (rows), got {n}")
    return a, b


def layer_matrices(param: str, layers: Sequence) -> list[np.ndarray]:
    """Each layer of an encoder (a non-empty list of (n, d) representations) as `as_matrix` gives it."""
    if isinstance(layers, (np.ndarray, torch.Tensor)) or len(layers) == 0:
        fail(param, "expected a non-empty list of (n, d) representations, one per layer")
    return [as_matrix(f"{param}[{i}]", z) for i, z in enumerate(layers)]


def check_k(k: int, n: int) -> int:
    """A neighbour count for n examples: 1 <= k <= n - 1."""
    k = check_positive_int("k", k)
    if k >= n:
        fail("k", f"must be smaller than the number of examples n = {n} (each has only n - 1 neighbours), "
             f"got k = {k}", f"use k <= {n - 1}")
    return k


def check_svcca_rows(n: int, dim: int, d1: int, d2: int) -> None:
    """Enough examples for SVCCA to keep `dim` directions of d1 and d2 features."""
    # Centred data live in an (n - 1)-dimensional space, where an r1- and an r2-dimensional subspace share
    # at least r1 + r2 - (n - 1) directions: those canonical correlations would be 1 whatever the data.
    r1, r2 = min(dim, d1), min(dim, d2)
    if n <= r1 + r2:
        fail("z1/z2", f"svcca keeps up to {r1} + {r2} directions and needs more examples than that, "
             f"got n = {n}", "use a smaller dim or more examples")


def check_quantile(clip_quantile) -> float:
    """A clipping quantile in (0, 1]."""
    number = (int, float, np.integer, np.floating)
    if isinstance(clip_quantile, bool) or not isinstance(clip_quantile, number) or not 0 < clip_quantile <= 1:
        fail("clip_quantile", f"must be a number in (0, 1], got {clip_quantile!r}", "use 1 not to clip")
    return float(clip_quantile)


def clipped_unit_rows(param: str, z, clip_quantile: float) -> np.ndarray:
    """`z` (named `param` in errors) clipped at its `clip_quantile` absolute-value quantile (taken without
    interpolation; 1 does not clip), then every row divided by max(its L2 norm, 1e-12). See `prepare`."""
    x = as_matrix(param, z)
    if clip_quantile < 1:
        at = min(int(clip_quantile * x.size), x.size - 1)
        bound = np.partition(np.abs(x).ravel(), at)[at]
        x = np.clip(x, -bound, bound)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), NORM_FLOOR)
