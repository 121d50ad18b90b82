"""Analysis on constructed tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from alignbook import analysis

LAMS = np.round(np.arange(0.0, 2.01, 0.2), 2)
# clearly shaped accuracy curves (per redundancy level), a few points of accuracy apart
CURVES = {
    0: lambda lam: 0.80 - 0.05 * lam,  # falls
    4: lambda lam: 0.70 + 0.24 * lam - 0.20 * lam**2,  # inverted U, optimum at 0.6
    6: lambda lam: 0.75 + 0.0 * lam,  # flat
    8: lambda lam: 0.70 + 0.10 * np.minimum(lam, 1.0),  # rises and saturates
}


def test_probe_accuracy_reads_linear_bits_and_not_hidden_ones():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(2000, 3))
    hidden = rng.integers(0, 2, size=2000)
    # mixed, but linear: each bit is a linear function of the first three features
    z = np.column_stack([bits[:, 0] * 2.0 - 1, bits[:, 1] - 0.5 * bits[:, 0], bits[:, 2] + 0.3 * bits[:, 1],
                         rng.normal(size=(2000, 4))])
    z[:, :3] += 0.05 * rng.normal(size=(2000, 3))
    accuracy = analysis.probe_accuracy(z, np.column_stack([bits, hidden, bits[:, 0] ^ bits[:, 1]]), seed=1)
    assert accuracy[:3] == pytest.approx([1.0, 1.0, 1.0], abs=0.01)  # linearly readable bits
    assert abs(accuracy[3] - 0.5) < 0.05  # a bit the representation does not hold: chance
    assert abs(accuracy[4] - 0.5) < 0.05  # XOR of two held bits: not linearly readable
    assert np.array_equal(accuracy, analysis.probe_accuracy(z, np.column_stack(
        [bits, hidden, bits[:, 0] ^ bits[:, 1]]), seed=1))


def test_probe_accuracy_refuses_bad_input():
    z = np.zeros((10, 2))
    with pytest.raises(ValueError, match="^bits: must hold 0/1"):
        analysis.probe_accuracy(z, np.full((10, 1), 2))
    with pytest.raises(ValueError, match="^z/bits: must be 2-d"):
        analysis.probe_accuracy(z[:, 0], np.zeros((10, 1)))
    with pytest.raises(ValueError, match="^z: needs at least 4"):
        analysis.probe_accuracy(z[:3], np.zeros((3, 1)))
