"""Linear probes: how well a linear read-out of a representation recovers known latent variables.

`probe_accuracy` scores each binary latent (e.g. the synthetic generator's bits) from a representation
`z`: the package's linear probe (`info.proxy.linear_probe`, a ridge regression on ±1 targets thresholded
at 0) fitted on one half of the examples and scored on the other. One solve serves every bit at once, so
probing hundreds of runs takes seconds; chance is 0.5 for a balanced bit.
"""

from __future__ import annotations

import numpy as np

from alignbook.checks import check_positive, check_same_rows, fail, to_numpy
from alignbook.info.proxy import linear_probe


def probe_accuracy(z, bits, seed: int = 0, alpha: float = 1.0) -> np.ndarray:
    """Held-out accuracy of a linear probe for each column of `bits` (n, k) of 0/1 values, from `z` (n, d).

    The rows are split in two halves at random (`seed`); features are z-scored with the fitting half's
    statistics; a ridge regression (penalty `alpha`) of the ±1 targets is fitted on that half, and each
    bit's accuracy is that of the prediction's sign on the other half. Returns a (k,) array.
    """
    z, bits = to_numpy("z", z), to_numpy("bits", bits)
    if z.ndim != 2 or bits.ndim != 2:
        fail("z/bits", f"must be 2-d arrays (examples x features, examples x bits), got {z.shape} and "
                       f"{bits.shape}")
    n = check_same_rows(z=z, bits=bits)
    if n < 4:
        fail("z", f"needs at least 4 examples to fit and score a probe, got {n}")
    if not np.isin(bits, (0, 1)).all():
        fail("bits", "must hold 0/1 values")
    alpha = check_positive("alpha", alpha)
    order = np.random.default_rng(seed).permutation(n)
    fit_rows, score_rows = order[: n // 2], order[n // 2 :]
    targets = 2.0 * bits - 1.0
    probe = linear_probe(z[fit_rows], targets[fit_rows], "ridge", alpha)
    predicted = probe.predict(z[score_rows]).reshape(len(score_rows), -1) > 0
    return (predicted == (bits[score_rows] > 0.5)).mean(axis=0)
