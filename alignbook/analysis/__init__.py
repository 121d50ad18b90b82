"""Analysis of sweep tables: curves and the optimum `lam*` (`curves`), an automatic search for `lam*`
(`search`), a model predicting it from the information decomposition (`predictor`), and the paper's claims
checked against the results (`claims`). Every function takes tidy tables; their public names are
re-exported here.
"""

from alignbook.analysis.claims import claims_table, interval_verdict, shape_claim, trend_claim, verdict
from alignbook.analysis.curves import SHAPES, alignment_trend, correlation_ci, curve_summary, optimal_lam
from alignbook.analysis.predictor import PID_PARTS, LamPredictor, predict_lam_from_pid
from alignbook.analysis.search import LamSearchResult, search_lam

__all__ = [
    "PID_PARTS", "SHAPES", "LamPredictor", "LamSearchResult", "alignment_trend", "claims_table",
    "correlation_ci", "curve_summary", "interval_verdict", "optimal_lam", "predict_lam_from_pid",
    "search_lam", "shape_claim", "trend_claim", "verdict",
]
