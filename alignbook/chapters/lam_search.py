"""The analysis chapter's automatic search for `lam` against the grid (claim `grid_search`).

`analysis.search_lam` by successive halving, driven by the validation accuracy of runs trained for a fixed
budget of epochs (`SearchEvaluator`, `search_encoders`; a search's budget is its subject, so it does not
follow the book's early-stopping rule), and compared with the grid's `lam*` on test accuracy, seed by seed
(`search_losses`, `search_claim`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignbook.analysis import holm, load_protocol, search_lam
from alignbook.analysis.curves import cell_matrices
from alignbook.analysis.protocol import mde, t_test
from alignbook.chapters.pid_validation import counted_claim
from alignbook.checks import check_positive_int, fail
from alignbook.config import TrainConfig
from alignbook.data import PairedDataset
from alignbook.storage.memo import remembered
from alignbook.training.threads import DEFAULT_THREADS

# Alignment metrics of search runs use this many test examples: search runs are scored on validation
# accuracy, so their (quadratic-cost) alignment measurements are kept minimal.
SEARCH_EVAL_SAMPLES = 64


class SearchEvaluator:
    """`evaluate(lams, resource, seed)` functions for `analysis.search_lam`, one per encoder, backed by
    validation accuracy of runs trained together by `vectorized.fit_many` with `config`'s recipe for exactly
    `resource` epochs: a search spends a fixed budget, so early stopping is switched off.

    Runs are remembered by `(lam, resource, seed)`, so the two encoders' searches (one run trains both
    encoders) share them; `runs_trained`, `epochs_trained` and `steps_trained` count what was really
    trained. Alignment is measured on `SEARCH_EVAL_SAMPLES` test examples only (it is not used). Runs train
    on `threads` threads (default one, as every trainer), the caller's settings restored after.
    """

    def __init__(self, dataset: PairedDataset, config: TrainConfig, threads: int = DEFAULT_THREADS):
        self.dataset = dataset
        self.threads = check_positive_int("threads", threads)
        self.config = config.replace(eval_max_samples=SEARCH_EVAL_SAMPLES, num_steps=0, check_every=0,
                                     patience=0, num_checkpoints=0)
        self.scores: dict[tuple[float, int, int], tuple[float, float]] = {}
        self.runs_trained = self.epochs_trained = self.steps_trained = 0

    def _train(self, lams: Sequence[float], resource: int, seed: int) -> None:
        from alignbook.training.vectorized import fit_many

        resource = check_positive_int("resource", resource)
        todo = sorted({float(lam) for lam in lams if (float(lam), resource, seed) not in self.scores})
        if not todo:
            return
        results = fit_many(self.dataset, todo, [seed] * len(todo), self.config.replace(num_epochs=resource),
                           threads=self.threads)
        for lam, result in zip(todo, results, strict=True):
            # a diverged run scores 0: the search must not pick it
            self.scores[(lam, resource, seed)] = (result.val_acc1, result.val_acc2) if result.ok else (0, 0)
            self.steps_trained += int(result.steps)
        self.runs_trained += len(todo)
        self.epochs_trained += len(todo) * resource

    def for_encoder(self, encoder: int):
        """The `evaluate` function scoring encoder 1 or 2 on its validation accuracy."""
        if encoder not in (1, 2):
            fail("encoder", f"must be 1 or 2, got {encoder!r}")

        def evaluate(lams, resource, seed):
            self._train(lams, resource, seed)
            return [self.scores[(float(lam), int(resource), seed)][encoder - 1] for lam in lams]

        return evaluate


@remembered()
def search_encoders(dataset: PairedDataset, config: TrainConfig, budget: int, lam_max: float, seed: int = 0,
                    n_grid: int = 9, eta: int = 3) -> dict:
    """`analysis.search_lam` by successive halving over `[0, lam_max]` for each encoder of `dataset`, on one
    `SearchEvaluator` (the two searches share their runs), stored on disk (`storage.memo.remembered`).

    Returns `{"found": {encoder: LamSearchResult}, "epochs": run-epochs trained, "steps": optimiser steps
    trained}` for both encoders together.
    """
    evaluator = SearchEvaluator(dataset, config)
    found = {encoder: search_lam(evaluator.for_encoder(encoder), (0.0, lam_max), budget=budget,
                                 method="halving", seed=seed, n_grid=n_grid, eta=eta)
             for encoder in (1, 2)}
    return {"found": found, "epochs": evaluator.epochs_trained, "steps": evaluator.steps_trained}


def search_datasets(result, depth: int, seed: int) -> dict:
    """The data draw of each level's runs of seed `seed` at depth `depth` in a sweep result
    (`SweepResult.dataset`), by level: what a search of that level trains on."""
    table = result.table
    rows = table[(table["depth"] == depth) & (table["seed"] == seed) & (table["encoder"] == 1)]
    first = rows.groupby("redundancy")["run"].first()
    if first.empty:
        fail("seed", f"no run of seed {seed} at depth {depth} in the sweep")
    return {int(level): result.dataset(int(run)) for level, run in first.items()}


def search_losses(searches: Mapping, table: pd.DataFrame, on: str, margin: float, alpha: float = 0.05,
                  power: float = 0.8) -> pd.DataFrame:
    """What each search gives up against the grid, seed by seed, on test accuracy.

    `searches` maps `(level, encoder)` to a `LamSearchResult`; `table` is the grid's results table (rows of
    one depth) with the level column `on`. The grid's `lam*` is the argmax of the seed-mean validation
    curve; each seed's loss is its test accuracy there minus its test accuracy at the searched `lam` (linear
    interpolation between grid points). Columns: `on`, `encoder`, `lam_grid`, `lam_search`, `loss` (mean
    over seeds), `p_loses` (one-sided t-test of a mean loss above `margin`), `p_within` (below `margin`),
    `mde` (the smallest distance from the margin either test detects with probability `power` at Holm's
    strictest level, `alpha` over the searches; 0 when the seeds agree exactly) and `n_seeds`.
    """
    cells, _ = cell_matrices(table, [on], "acc", "val_acc")
    by_key = {(cell.key[on], cell.key["encoder"]): cell for cell in cells}
    rows = []
    for (level, encoder), result in searches.items():
        cell = by_key.get((level, encoder))
        if cell is None:
            fail("searches", f"no grid result for {on} = {level}, encoder {encoder}")
        star = int(np.argmax(np.nanmean(cell.valid, axis=0)))
        loss = cell.test[:, star] - np.array([np.interp(result.lam_star, cell.lams, t) for t in cell.test])
        mean, sd, n, p_loses = t_test(loss, "greater", null=margin)
        rows.append({on: level, "encoder": encoder, "lam_grid": float(cell.lams[star]),
                     "lam_search": float(result.lam_star), "loss": float(mean), "p_loses": float(p_loses),
                     "p_within": float(t_test(loss, "less", null=margin)[3]),
                     # no spread: any distance from the margin is detected
                     "mde": mde(float(sd), int(n), alpha / len(searches), power) if sd > 0 else 0.0,
                     "n_seeds": int(n)})
    return pd.DataFrame(rows)


def search_claim(losses: pd.DataFrame, on: str) -> dict:
    """Claim `grid_search`: a search loses more than the margin (one-sided t over seeds), its opposite that
    it loses less (equivalence), each direction with Holm over the searches."""
    spec = load_protocol().claim("grid_search")
    p_claim, p_opposite = losses["p_loses"].to_numpy(float), losses["p_within"].to_numpy(float)
    holds = np.nan_to_num(holm(p_claim), nan=1.0) <= spec.alpha
    opposed = np.nan_to_num(holm(p_opposite), nan=1.0) <= spec.alpha
    cases = [f"{on}={row[on]:g} encoder {row['encoder']}: mean loss {row['loss']:+.4f}, p above the margin "
             f"{row['p_loses']:.2g}, below {row['p_within']:.2g}, MDE {row['mde']:.4f}"
             for row in losses.to_dict("records")]
    n = int(np.isfinite(p_claim).sum())
    return counted_claim(spec, f"the search loses more than the margin {spec.margin:g} of test accuracy "
                               "(one-sided t over seeds, Holm over the searches); opposite: it loses less",
                         "; ".join([f"holds in {int(holds.sum())} of {n}, the opposite in "
                                    f"{int(opposed.sum())}", *cases]),
                         agree=int(holds.sum()), opposed=int(opposed.sum()), cases=n)
