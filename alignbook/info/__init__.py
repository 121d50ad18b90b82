"""Information quantities: exact ones of discrete joints (`exact`) and estimates from samples (`estimate`).

`exact` gives entropy, mutual information, Bayes accuracy and the BROJA partial information decomposition
(`pid`) of probability tables; `estimate` discretises continuous paired samples and applies the same exact
machinery with bootstrap intervals (`estimate_pid`). Their public names are re-exported here.
"""

from alignbook.info.estimate import (
    ESTIMATE_KEYS,
    PIDEstimate,
    discretize,
    estimate_pid,
    kmeans,
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
    "ESTIMATE_KEYS", "JOINT_TOLERANCE", "BrojaSolution", "PIDConvergenceError", "PIDEstimate",
    "bayes_accuracy", "broja_optimum", "check_joint", "discretize", "entropy", "estimate_pid", "kmeans",
    "mutual_information", "pid", "pid_sensitivity",
]
