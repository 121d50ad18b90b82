"""The pair's information and the book's predicted lam*: codes sized to the data, the predictor fitted on a
constructed synthetic results table, and unavailable without one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook.advise.information import (
    BOOK_TABLE,
    Decomposition,
    book_predictor,
    book_table,
    code_counts,
    predicted_lam,
)

LAMS = (0.0, 0.5, 1.0, 2.0)


def test_codes_shrink_with_the_rows_of_a_fold():
    assert code_counts(10_000) == (32, 64)
    assert code_counts(2000) == (32, 64)  # folds of 400 rows: 5 per joint code
    assert code_counts(1000) == (16, 32)
    assert code_counts(100) == (2, 4)
    assert code_counts(60) is None


def synthetic_table(best: dict[int, float], seeds: int = 3) -> pd.DataFrame:
    """A synthetic results table whose validation and test curves peak at `best[redundancy]`."""
    rng = np.random.default_rng(0)
    rows = []
    for r, peak in best.items():
        for lam in LAMS:
            for seed in range(seeds):
                for encoder in (1, 2):
                    score = 0.7 - 0.02 * abs(lam - peak) + rng.normal(0, 1e-4)
                    rows.append({"redundancy": r, "depth": 1, "encoder": encoder, "lam": lam, "seed": seed,
                                 "acc": score, "val_acc": score, "status": "ok"})
    return pd.DataFrame(rows)


def decomposition_of(shares: list[float]) -> Decomposition:
    """A decomposition whose folds have these redundancy fractions R / I12 (I12 = 1)."""
    folds = pd.DataFrame([{"R": s, "U1": (1 - s) / 2, "U2": (1 - s) / 2, "S": 0.0, "I1": 0.5, "I2": 0.5,
                           "I12": 1.0} for s in shares])
    point = folds.mean().to_dict()
    return Decomposition(point, point, point, folds, {"n_folds": len(shares)})


def test_the_book_predictor_follows_the_synthetic_table_and_spreads_over_the_folds(tmp_path):
    assert book_predictor(None) is None
    assert book_table(folder=tmp_path) is None  # an installed package without the book
    synthetic_table({0: 0.0, 8: 2.0}).to_csv(tmp_path / f"{BOOK_TABLE}.csv", index=False)
    table = book_table(folder=tmp_path)
    predictor = book_predictor(table)
    assert predictor.slope > 0 and predictor.lam_min == 0.0 and predictor.lam_max == 2.0
    # R / I12 is 0.2354 at r = 0 and 1 at r = 8 (the exact decomposition): the line goes through both ends
    assert predictor.predict({"R": 1.0, "U1": 0, "U2": 0, "S": 0, "I12": 1.0}) == pytest.approx(2.0)
    prediction = predicted_lam(predictor, decomposition_of([0.5, 0.6, 0.7]))
    assert prediction.low < prediction.lam < prediction.high
    assert prediction.lam == pytest.approx(predictor.predict({"R": 0.6, "U1": 0.2, "U2": 0.2, "S": 0.0,
                                                              "I12": 1.0}))
    assert prediction.n_points == 4 and "over 4 cells" in prediction.text()
    assert predicted_lam(None, decomposition_of([0.5])) is None
    assert predicted_lam(predictor, None) is None
