"""The result of one training run, shared by the one-run and the vectorised trainers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alignbook.config import TrainConfig


@dataclass
class FitResult:
    """One run: both unimodal encoders, their test scores and their weights.

    `acc1`/`acc2` are test accuracies of each encoder with its own head (for regression: accuracy of the
    sign, as the paper reports); `loss1`/`loss2` are test cross-entropy or L1. Each encoder's checkpoint is
    chosen on its validation score alone; `weights1`/`weights2` hold that checkpoint's encoder and task head
    (parameter name to float32 array, the names of `models.build_branch`'s state without the projection
    head; `training.weights.load_branches` rebuilds the branches from them). `steps` is the number of
    optimiser steps trained, `hit_cap` whether the run trained its whole budget (always, with `patience = 0`)
    rather than stopping early. The trainers leave `alignment` (metric name to score between the two
    encoders' test representations) and `alignment_chance` (score of unrelated representations) empty:
    alignment is measured from the stored weights afterwards.
    `status` is "ok" or "failed"; a failed run says why in `error`, carries NaN scores and no weights (None),
    and `steps` counts the steps done before the failure.
    """

    lam: float
    seed: int
    config: TrainConfig
    acc1: float = float("nan")
    acc2: float = float("nan")
    loss1: float = float("nan")
    loss2: float = float("nan")
    val_acc1: float = float("nan")
    val_acc2: float = float("nan")
    best_epoch1: int = -1
    best_epoch2: int = -1
    best_step1: int = -1  # optimiser steps done at each encoder's chosen checkpoint
    best_step2: int = -1
    steps: int = 0  # optimiser steps trained
    hit_cap: bool = False  # trained the whole budget (num_steps or num_epochs), not stopped by patience
    alignment: dict = field(default_factory=dict)
    alignment_chance: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # one dict per checkpoint (by default per epoch)
    time_s: float = float("nan")
    status: str = "ok"
    error: str = ""
    weights1: dict | None = None  # name -> float32 array, at each encoder's best checkpoint; None: none
    weights2: dict | None = None
    z1: np.ndarray | None = None  # test representations, kept only when asked for (single.fit)
    z2: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished (`status == "ok"`); a failed run carries NaN scores."""
        return self.status == "ok"

    def summary(self) -> dict:
        """Scalars only: what a results table keeps of this run."""
        row = {"lam": self.lam, "seed": self.seed, "acc1": self.acc1, "acc2": self.acc2,
               "loss1": self.loss1, "loss2": self.loss2, "val_acc1": self.val_acc1,
               "val_acc2": self.val_acc2, "best_epoch1": self.best_epoch1, "best_epoch2": self.best_epoch2,
               "best_step1": self.best_step1, "best_step2": self.best_step2, "steps": self.steps,
               "hit_cap": self.hit_cap,
               "time_s": self.time_s, "status": self.status, "error": self.error}
        row.update({f"align_{k}": v for k, v in self.alignment.items()})
        row.update({f"chance_{k}": v for k, v in self.alignment_chance.items()})
        return row
