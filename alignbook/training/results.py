"""The result of one training run, shared by the one-run and the vectorised trainers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alignbook.config import TrainConfig


@dataclass
class FitResult:
    """One run: both unimodal encoders, their test scores and the alignment between them.

    `acc1`/`acc2` are test accuracies of each encoder with its own head (for regression: accuracy of the
    sign, as the paper reports); `loss1`/`loss2` are test cross-entropy or L1. `alignment` maps a metric
    name to its score between the two encoders' test representations, `alignment_chance` to the score of
    unrelated representations. Each encoder's checkpoint is chosen on its validation score alone.
    `status` is "ok" or "failed"; a failed run says why in `error` and carries NaN scores.
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
    alignment: dict = field(default_factory=dict)
    alignment_chance: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # one dict per checkpoint (by default per epoch)
    time_s: float = float("nan")
    status: str = "ok"
    error: str = ""
    z1: np.ndarray | None = None  # test representations, kept only when asked for
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
               "best_step1": self.best_step1, "best_step2": self.best_step2,
               "time_s": self.time_s, "status": self.status, "error": self.error}
        row.update({f"align_{k}": v for k, v in self.alignment.items()})
        row.update({f"chance_{k}": v for k, v in self.alignment_chance.items()})
        return row
