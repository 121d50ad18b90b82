"""The book's studies declared once, so every chapter that needs a study's results asks for the same runs.

Chapters that share a study (the synthetic sweep is trained in one chapter and analysed in another) build
their sweep spec here from their parameters; equal parameters give equal specs and so the same cached runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from alignbook.sweep import SweepSpec


def synthetic_sweep_spec(redundancies: Sequence[int], depths: Sequence[int], lams: Sequence[float],
                         seeds: Sequence[int], n_samples: int = 65536, num_epochs: int = 10,
                         batch_size: int = 256, name: str = "synthetic_sweep") -> SweepSpec:
    """The synthetic study: redundancy levels x heterogeneity depths x `lam` grid x seeds."""
    return SweepSpec.from_dict({
        "name": name,
        "dataset": {"kind": "synthetic", "n_samples": int(n_samples)},
        "dataset_grid": {"redundancy": list(redundancies), "depth": list(depths)},
        "lams": [float(lam) for lam in lams],
        "seeds": list(seeds),
        "train": {"num_epochs": int(num_epochs), "batch_size": int(batch_size)},
    })
