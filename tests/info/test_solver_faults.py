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

from alignbook.info import exact


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
