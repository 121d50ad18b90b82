"""Analysis of sweep tables: curves and their cells (`curves`), the per-cell verdict protocol and the
optimum `lam*` (`protocol`), alignment trends and correlations with the seed as the unit (`correlation`),
the protocol file of every claim (`plan`), claims controlled across cells (`claims`), the simulation that
calibrates the whole machinery (`calibration`), an automatic search for `lam*` (`search`), a model
predicting it from the information decomposition (`predictor`), and linear probes of representations for
known latent variables (`probes`). Every function takes tidy tables; their public names are re-exported
here.
"""

from alignbook.analysis.calibration import Design, NoiseModel, calibration_table, noise_model
from alignbook.analysis.claims import (
    claims_table,
    correlation_claim,
    difference_claim,
    holm,
    interval_verdict,
    regime_boundaries,
    shape_claim,
    trend_claim,
    verdict,
)
from alignbook.analysis.correlation import (
    alignment_trend,
    correlation_ci,
    permutation_pvalues,
    seed_correlation,
)
from alignbook.analysis.curves import cell_matrices, curve_summary
from alignbook.analysis.plan import ClaimSpec, Protocol, load_protocol
from alignbook.analysis.predictor import (
    PID_PARTS,
    LamPredictor,
    LamRegression,
    fit_lam_star,
    level_correlation,
    level_cv,
    loo_improvement,
    predict_lam_from_pid,
    predictor_comparison,
    predictor_verdict,
)
from alignbook.analysis.probes import probe_accuracy
from alignbook.analysis.protocol import MIN_SEEDS, OPTIMUM_COLUMNS, SHAPES, mde, optimal_lam, seed_gains
from alignbook.analysis.search import LamSearchResult, search_lam

__all__ = [
    "ClaimSpec", "Design", "LamPredictor", "LamRegression", "LamSearchResult", "MIN_SEEDS", "NoiseModel",
    "OPTIMUM_COLUMNS", "PID_PARTS", "Protocol", "SHAPES", "alignment_trend", "calibration_table",
    "cell_matrices", "claims_table", "correlation_ci", "correlation_claim", "curve_summary",
    "difference_claim", "fit_lam_star", "holm", "interval_verdict", "level_correlation", "level_cv",
    "load_protocol", "loo_improvement", "mde", "noise_model", "optimal_lam", "permutation_pvalues",
    "predict_lam_from_pid", "predictor_comparison", "predictor_verdict", "probe_accuracy",
    "regime_boundaries", "search_lam", "seed_correlation", "seed_gains", "shape_claim", "trend_claim",
    "verdict",
]
