"""Information quantities: exact ones of discrete joints (`exact`), estimates from samples (`estimate`,
`learned`) and a probe-based proxy for real data (`proxy`).

`exact` gives entropy, mutual information, Bayes accuracy and the BROJA partial information decomposition
(`pid`) of probability tables; `estimate_pid` estimates the decomposition of continuous paired samples,
by PCA and k-means (`method="kmeans"`, in `estimate`) or by the estimators of `learned` that first learn
each modality's class posterior (`method="codes"` or `"batch"`); `intervals` calibrates an estimate's
interval on the errors the estimator made where the exact value is known; `proxy` bounds each view's task
information with the package's linear probe (`linear_probe`) and splits it by minimum mutual information.
Their public names are re-exported here.
"""

from alignbook.info.estimate import (
    DEFAULT_METHOD,
    ESTIMATE_KEYS,
    PID_METHODS,
    PIDEstimate,
    discretize,
    estimate_pid,
    kmeans,
    kmeans_pid,
    pid_sensitivity,
)
from alignbook.info.exact import (
    JOINT_TOLERANCE,
    BrojaSolution,
    PIDConvergenceError,
    bayes_accuracy,
    broja_optimum,
    check_joint,
    entropy,
    mutual_information,
    pid,
)
from alignbook.info.intervals import calibrated_interval, calibrated_intervals, error_bounds
from alignbook.info.proxy import (
    encoder_information,
    information_table,
    linear_probe,
    mmi_decomposition,
    probe_features,
    probe_information,
)

__all__ = [
    "DEFAULT_METHOD", "ESTIMATE_KEYS", "JOINT_TOLERANCE", "PID_METHODS", "BrojaSolution",
    "PIDConvergenceError", "PIDEstimate", "bayes_accuracy", "broja_optimum", "calibrated_interval",
    "calibrated_intervals", "check_joint", "discretize", "encoder_information", "entropy",
    "error_bounds", "estimate_pid", "information_table", "kmeans", "kmeans_pid",
    "linear_probe", "mmi_decomposition", "mutual_information", "pid", "pid_sensitivity", "probe_features",
    "probe_information",
]
