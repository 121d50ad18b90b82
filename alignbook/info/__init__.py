"""Information quantities: exact ones of discrete joints (`exact`) and estimates from samples (`estimate`,
`learned`).

`exact` gives entropy, mutual information, Bayes accuracy and the BROJA partial information decomposition
(`pid`) of probability tables; `estimate_pid` estimates the decomposition of continuous paired samples,
by PCA and k-means (`method="kmeans"`, in `estimate`) or by the estimators of `learned` that first learn
each modality's class posterior (`method="codes"` or `"batch"`). Their public names are re-exported here.
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

__all__ = [
    "DEFAULT_METHOD", "ESTIMATE_KEYS", "JOINT_TOLERANCE", "PID_METHODS", "BrojaSolution",
    "PIDConvergenceError", "PIDEstimate", "bayes_accuracy", "broja_optimum", "check_joint", "discretize",
    "entropy", "estimate_pid", "kmeans", "kmeans_pid", "mutual_information", "pid", "pid_sensitivity",
]
