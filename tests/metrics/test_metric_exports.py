"""The package keeps the public names of the module it replaced, each defined in the module of its job."""

from __future__ import annotations

import alignbook.metrics as metrics

# the public names of alignbook.metrics before it became a package, and where each lives now
HOMES = {
    "METRICS": "summary", "KERNELS": "similarity", "prepare": "similarity", "mutual_knn": "similarity",
    "cka": "similarity", "cknna": "similarity", "svcca": "similarity", "all_scores": "similarity",
    "chance_level": "chance", "permutation_baseline": "chance", "chance_levels": "chance",
    "best_layer_scores": "layers", "pair_alignment": "layers", "Summaries": "summary",
}


def test_every_public_name_is_exported_from_the_module_of_its_job():
    assert sorted(metrics.__all__) == sorted(HOMES)
    for name, home in HOMES.items():
        module = getattr(metrics, home)
        assert getattr(metrics, name) is getattr(module, name), name
        if callable(getattr(metrics, name)):
            assert getattr(metrics, name).__module__ == f"alignbook.metrics.{home}", name
