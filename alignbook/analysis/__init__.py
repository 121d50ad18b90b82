"""Analysis of sweep tables: curves and the optimum `lam*` (`curves`), an automatic search for `lam*`
(`search`), a model predicting it from the information decomposition (`predictor`), the paper's claims
checked against the results, regime by regime (`claims`), and linear probes of representations for known
latent variables (`probes`). Every function takes tidy tables; their public names are
re-exported here.
"""

from alignbook.analysis.claims import (
    claims_table,
    interval_verdict,
    regime_boundaries,
    shape_claim,
    trend_claim,
    verdict,
)
from alignbook.analysis.curves import SHAPES, alignment_trend, correlation_ci, curve_summary, optimal_lam
from alignbook.analysis.predictor import (
    PID_PARTS,
    LamPredictor,
    LamRegression,
    fit_lam_star,
    loo_improvement,
    predict_lam_from_pid,
)
from alignbook.analysis.probes import probe_accuracy
from alignbook.analysis.search import LamSearchResult, search_lam

__all__ = [
    "PID_PARTS", "SHAPES", "LamPredictor", "LamRegression", "LamSearchResult", "alignment_trend",
    "claims_table", "correlation_ci", "curve_summary", "fit_lam_star", "interval_verdict", "loo_improvement",
    "optimal_lam",
    "predict_lam_from_pid", "probe_accuracy", "regime_boundaries", "search_lam", "shape_claim",
    "trend_claim", "verdict",
]
