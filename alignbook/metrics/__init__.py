"""How aligned are two encoders? Similarity measures between two representations of the same examples,
their chance levels, and the measurement a trainer records after each run.

`similarity` holds the metrics (`mutual_knn`, `cka`, `cknna`, `svcca`, all of them at once in `all_scores`)
and the reference's preprocessing `prepare`; `kernels` the computations behind them, in bounded memory;
`summary` what every metric needs from one representation, computed once, and `Summaries`, the cache a
caller passes to reuse it across calls; `chance` the scores of unrelated representations
(`chance_level`, `permutation_baseline`, `chance_levels`); `layers` the search over pairs of layers
(`best_layer_scores`) and `pair_alignment`, what a trainer records; `inputs` the checks of what they take.
Their public names are re-exported here.
"""

from alignbook.metrics.chance import chance_level, chance_levels, permutation_baseline
from alignbook.metrics.layers import best_layer_scores, pair_alignment
from alignbook.metrics.similarity import KERNELS, all_scores, cka, cknna, mutual_knn, prepare, svcca
from alignbook.metrics.summary import METRICS, Summaries

__all__ = [
    "KERNELS", "METRICS", "Summaries", "all_scores", "best_layer_scores", "chance_level", "chance_levels",
    "cka", "cknna", "mutual_knn", "pair_alignment", "permutation_baseline", "prepare", "svcca",
]
