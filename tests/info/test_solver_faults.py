"""Fault injection: whatever goes wrong, nothing wrong is served and nothing is left behind.

Each test plants a fault that a person, a machine or a second process can cause and checks what the package
does about it: a tampered, garbled or foreign cache entry is caught with a warning naming it and recomputed;
a killed sweep leaves no process behind and the next sweep takes over its runs; a full or read-only disk,
an empty environment variable, a duplicated YAML key and a bad notebook parameter give a one-line error
that names the culprit before any training; overflowing data give a clear error instead of silent zeros;
the PID solver finishes on dense joints and its advice, when it does not, works; two sweeps on one cache
never train the same run twice. Trainers are the counting stand-ins of `test_sweep` unless the fault is in
the training processes themselves (`fault_sweep.py`).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from alignbook.info import estimate_pid, exact, learned


def random_joint(seed: int, shape=(64, 64, 8)) -> np.ndarray:
    p = np.random.default_rng(seed).random(shape)
    return p / p.sum()


def test_pid_solver_finishes_on_a_dense_joint_and_its_budget_advice_works():
    p = random_joint(2)  # stopped after 11 Newton steps while the gap was still halving
    with pytest.raises(exact.PIDConvergenceError, match="raise max_iterations"):
        exact.broja_optimum(p, max_iterations=8)
    solution = exact.broja_optimum(p)  # the advice: a larger budget (the default)
    assert solution.converged and solution.gap <= 1e-5
    assert np.allclose(solution.q.sum(1), p.sum(1), atol=1e-12)
    assert np.allclose(solution.q.sum(0), p.sum(0), atol=1e-12)


def test_pid_solver_advice_on_a_precision_limit_works():
    p = np.zeros((2, 2, 2))
    for a in (0, 1):
        for b in (0, 1):
            p[a, b, a & b] = 0.25  # AND: the optimum has zeros, the attainable gap is ~6e-6 nats
    with pytest.raises(exact.PIDConvergenceError) as error:
        exact.broja_optimum(p, tol=1e-12)
    advised = re.search(r"tol=([0-9.e+-]+)", str(error.value))
    assert advised, str(error.value)
    assert exact.broja_optimum(p, tol=float(advised.group(1))).converged


def paired_samples(n=800, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y[:, None] + rng.normal(size=(n, 3)), y[:, None] + rng.normal(size=(n, 2)), y


FAST_OPTIONS = {"kmeans": {"n_bootstrap": 5},
                "codes": {"n_codes": 8, "n_joint_codes": 8,
                          "classifier": learned.ClassifierSettings(hidden=8, epochs=5, max_steps=20)}}


@pytest.mark.parametrize("method", ["kmeans", "codes"])
def test_pid_estimates_do_not_depend_on_the_scale_of_the_data(method):
    x1, x2, y = paired_samples()
    reference = estimate_pid(x1, x2, y, method=method, **FAST_OPTIONS[method]).point
    assert reference["mi_x1x2_y"] > 0.1
    for scale in (2.0**600, 2.0**-990):  # a power of two scales exactly: the very same estimate
        with np.errstate(all="raise"):
            scaled = estimate_pid(x1 * scale, x2 * scale, y, method=method, **FAST_OPTIONS[method]).point
        assert scaled == reference, scale
    for scale in (1e200, 1e-300):  # the standard deviation of these overflowed or underflowed: all zeros
        scaled = estimate_pid(x1 * scale, x2 * scale, y, method=method, **FAST_OPTIONS[method]).point
        assert scaled["mi_x1x2_y"] == pytest.approx(reference["mi_x1x2_y"], rel=0.05), scale


@pytest.mark.parametrize("method", ["kmeans", "codes"])
@pytest.mark.parametrize(("labels", "match"), [
    (np.array([0, "a"] * 400, dtype=object), "mixes"),
    (np.where(np.arange(800) == 5, np.nan, np.arange(800) % 2), "NaN"),
], ids=["mixed-types", "nan"])
def test_pid_estimators_refuse_labels_that_are_not_classes(method, labels, match):
    x1, x2, _ = paired_samples()
    with pytest.raises(ValueError, match=f"^y: .*{match}") as error:
        estimate_pid(x1, x2, labels, method=method, **FAST_OPTIONS[method])
    assert "\n" not in str(error.value)
