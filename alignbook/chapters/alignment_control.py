"""Chapter 02, controlling alignment: a few runs of one synthetic dataset at a few strengths `lam`.

`control_runs` trains (or reads back) the chapter's runs and recomputes their representations from their
stored weights; `lam0_check` checks that `lam = 0` is independent training, weight for weight.
"""

from __future__ import annotations

from collections.abc import Sequence

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepSpec, run_sweep


@remembered()
def lam0_check(dataset, seed: int, config: TrainConfig) -> tuple[bool, bool]:
    """`training.single.lam0_matches_independent(dataset, seed=seed, config=config)`, stored
    (`storage.memo.remembered`, keyed by the code of every module it reaches, the trainers'): whether each
    encoder trained jointly at `lam = 0` ends with exactly its weights when trained alone, (enc1, enc2). It
    trains four encoders; a re-executed chapter reads the answer back unless the training code changed."""
    from alignbook.training import single  # imports torch: only when computed

    return single.lam0_matches_independent(dataset, seed=seed, config=config)


def control_runs(redundancy: int, depth: int, n_samples: int, seed: int, lams: Sequence[float],
                 config: TrainConfig, representations: bool = True, workers: int | str = "auto",
                 name: str = "alignment_control", progress: bool = False) -> dict:
    """The alignment-control chapter's runs: each `lam` of `lams` on `synthetic.make_dataset(redundancy,
    depth=depth, n_samples=n_samples, seed=seed)`, training seed `seed`, recipe `config`, as `{lam:
    FitResult}` in the order of `lams`.

    They go through the sweep engine: runs already in the cache are read back, the others are trained together
    by the vectorised trainer in `workers` processes and cached. With `representations`, each run's `z1`, `z2`
    hold its encoders' test representations (the first `eval_max_samples` test examples), recomputed from its
    stored weights. A diverged run is an error here: the chapter shows every run.
    """
    spec = SweepSpec.from_dict({
        "name": name,
        "dataset": {"kind": "synthetic", "n_samples": int(n_samples), "redundancy": int(redundancy),
                    "depth": int(depth)},
        "lams": [float(lam) for lam in lams], "seeds": [int(seed)], "data_seed": int(seed),
        "train": config.to_dict(),
    })
    result = run_sweep(spec, workers=workers, progress=progress)
    failed = [run.lam for run in result.runs if not run.ok]
    if failed:
        fail("lams", f"the runs at lam = {failed} diverged", "lower lr or the alignment strength")
    if representations:
        for index, run in enumerate(result.runs):
            run.z1, run.z2 = result.representations(index, rows=config.eval_max_samples)
    return {run.lam: run for run in result.runs}
