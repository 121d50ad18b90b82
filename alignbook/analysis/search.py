"""Choosing `lam` automatically with far fewer trained runs than a fine grid (`search_lam`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alignbook.analysis.curves import argmax_smallest
from alignbook.checks import check_positive_int, fail


@dataclass
class LamSearchResult:
    """Outcome of `search_lam`: the chosen `lam_star`, its score, and every evaluation made on the way.

    `history` lists `(lam, value, resource)` in the order evaluated; `runs_spent` counts evaluations (one
    trained pair of encoders each), `resource_spent` sums their resource (e.g. epochs).
    """

    lam_star: float
    value: float
    method: str
    runs_spent: int
    resource_spent: int
    history: list[tuple[float, float, int]] = field(default_factory=list)

    def history_frame(self) -> pd.DataFrame:
        """The evaluations as a table with columns lam, value, resource, in the order made."""
        return pd.DataFrame(self.history, columns=["lam", "value", "resource"])


_GOLDEN = (math.sqrt(5) - 1) / 2  # 0.618...: the bracket shrinks by this factor per evaluation


def search_lam(evaluate: Callable[[list[float], int, int], Sequence[float]], lam_range=(0.0, 4.0),
               budget: int = 30, method: str = "golden", seed: int = 0, n_grid: int = 9, eta: int = 2,
               tol: float = 0.05, max_evals: int = 50) -> LamSearchResult:
    """Choose `lam` automatically with far fewer trained runs than a fine grid.

    `evaluate(lams, resource, seed)` trains one pair of encoders per `lam` (the vectorised trainer makes
    many lams per call cheap) with `resource` units of effort (epochs, or seeds averaged: the caller
    decides) and returns one validation score per `lam`, higher is better. `seed` is passed through so
    the caller's runs are reproducible. `budget` is the full resource.

    - `method="halving"` (successive halving): `n_grid` evenly spaced lams are evaluated with a small
      resource; the best `1/eta` survive and are re-evaluated with `eta` times more, until at most `eta`
      remain, which get the full `budget`. Assumes the ranking at low resource roughly predicts the
      ranking at full resource; its resolution is the grid spacing.
    - `method="golden"`: the coarse grid is evaluated with the full budget, the best point and its two
      neighbours bracket the optimum, and golden-section search narrows the bracket to `tol` (one new
      lam per call, at most `max_evals` evaluations in all). Assumes the curve is unimodal inside that
      bracket; with noisy scores the result is within the noise-limited resolution, not `tol`.

    `lam_star` is the best evaluated lam at the highest resource used (ties: the smallest lam).
    """
    if not callable(evaluate):
        fail("evaluate", "must be a callable evaluate(lams, resource, seed) -> scores")
    if method not in ("halving", "golden"):
        fail("method", f"must be 'halving' or 'golden', got {method!r}")
    try:
        low, high = (float(v) for v in lam_range)
    except (TypeError, ValueError):
        fail("lam_range", f"must be a pair (low, high) of numbers, got {lam_range!r}")
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
        fail("lam_range", f"must satisfy 0 <= low < high, got {lam_range!r}")
    budget = check_positive_int("budget", budget)
    n_grid = check_positive_int("n_grid", n_grid)
    eta = check_positive_int("eta", eta)
    max_evals = check_positive_int("max_evals", max_evals)
    if n_grid < 3:
        fail("n_grid", f"must be at least 3 to bracket an optimum, got {n_grid}")
    if eta < 2:
        fail("eta", f"must be at least 2, got {eta}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        fail("tol", f"must be a number > 0, got {tol!r}")
    history: list[tuple[float, float, int]] = []

    def run(lams: list[float], resource: int) -> list[float]:
        scores = [float(v) for v in evaluate(list(lams), int(resource), seed)]
        if len(scores) != len(lams):
            fail("evaluate", f"returned {len(scores)} scores for {len(lams)} lams")
        if not all(math.isfinite(v) for v in scores):
            fail("evaluate", f"returned non-finite scores {scores}")
        history.extend(zip(lams, scores, [int(resource)] * len(lams), strict=True))
        return scores

    grid = [float(v) for v in np.linspace(low, high, n_grid)]
    if method == "halving":
        rounds = 0  # rounds after the first until at most eta candidates remain
        size = n_grid
        while size > eta:
            size = math.ceil(size / eta)
            rounds += 1
        candidates = grid
        for k in range(rounds + 1):
            resource = max(1, round(budget / eta ** (rounds - k)))
            scores = run(candidates, resource)
            if k < rounds:  # keep the best 1/eta, ties to the smaller lam (stable sort on -score)
                order = np.argsort(-np.asarray(scores), kind="stable")
                keep = sorted(order[: math.ceil(len(candidates) / eta)])
                candidates = [candidates[i] for i in keep]
    else:
        scores = run(grid, budget)
        best = int(argmax_smallest(np.asarray(scores)))
        a, b = grid[max(best - 1, 0)], grid[min(best + 1, n_grid - 1)]
        known = dict(zip(grid, scores, strict=True))

        def value(lam: float) -> float:
            if lam not in known:
                known[lam] = run([lam], budget)[0]
            return known[lam]

        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        while b - a > tol and len(history) < max_evals:
            if value(c) >= value(d):  # maximum lies in [a, d]
                b, d = d, c
                c = b - _GOLDEN * (b - a)
            else:  # maximum lies in [c, b]
                a, c = c, d
                d = a + _GOLDEN * (b - a)
    top = max(r for _, _, r in history)
    final = sorted((lam, v) for lam, v, r in history if r == top)
    lam_values = np.asarray([v for _, v in final])
    lam_star, best_value = final[int(argmax_smallest(lam_values))]
    return LamSearchResult(lam_star=lam_star, value=best_value, method=method, runs_spent=len(history),
                           resource_spent=sum(r for _, _, r in history), history=history)
