"""Chapter 02, controlling alignment: a few runs of one synthetic dataset at a few strengths `lam`.

`Parameters` checks the chapter's parameters. `first_step` gives what a run's first optimiser step sees
(both branches at their initial weights and the first batch), on which the chapter computes its own loss,
and `first_step_losses` what the package's trainer computes there, to check the chapter against it.
`control_runs` trains (or reads back) the chapter's runs, each for the whole fixed budget, and measures
them; `curve_summary`, `metric_comparison` and `layer_comparison` lay out the numbers the prose quotes, with
their directions in words; `lam0_check` checks that `lam = 0` is independent training, weight for weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from alignbook.chapters.book import direction
from alignbook.checks import NotebookParameters, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepResult, SweepSpec, run_sweep
from alignbook.training.results import FitResult

if TYPE_CHECKING:  # torch loads only when a first step is built
    import torch

    from alignbook.models.branch import Branch


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The parameters of chapter 02 (see its parameters cell)."""

    redundancy: int
    depth: int
    lam: float
    lams: list
    seed: int
    n_samples: int
    num_epochs: int
    workers: int | str
    backend: str

    def check(self) -> None:
        if self.lam == 0:
            fail("lam", "must be > 0: the chapter compares it with lam = 0", "give e.g. lam = 1.0")
        if self.num_epochs < 2:
            fail("num_epochs", f"must be at least 2, got {self.num_epochs}",
                 "the chapter follows each run's curve from its first epoch to its last")

    @property
    def trained_lams(self) -> list[float]:
        """Every strength the chapter trains: `lams`, `lam` and 0, in increasing order."""
        return sorted({*self.lams, self.lam, 0.0})


# --------------------------------------------------------------------------------------------------------
# The loss at a run's first step


@dataclass(frozen=True)
class FirstStep:
    """What the first optimiser step of run (`seed`, `config`) on a dataset sees: both branches at their
    initial weights (`models.Branch`: encoder, task head, projection head) and the first training batch."""

    branch1: Branch
    branch2: Branch
    x1: torch.Tensor  # one row per example of the batch
    x2: torch.Tensor
    y: torch.Tensor  # class indices


def first_step(dataset: PairedDataset, *, seed: int, config: TrainConfig) -> FirstStep:
    """The initial branches and first batch of the run with `seed` and `config` on `dataset`, drawn as both
    trainers draw them (`training.seeding`: the branch seeds and the batch order)."""
    from alignbook.models.branch import build_branch
    from alignbook.training.common import as_target, as_tensor, out_dim
    from alignbook.training.seeding import branch_seed, run_batches

    branches = [build_branch(config, shape, out_dim(dataset), branch_seed(seed, modality))
                for modality, shape in zip((1, 2), dataset.input_shapes, strict=True)]
    batch = run_batches(len(dataset.train), config.batch_size, seed, 0, 1)[0]
    train = dataset.train
    return FirstStep(branches[0], branches[1], as_tensor(train.x1[batch]), as_tensor(train.x2[batch]),
                     as_target(train.y[batch], dataset.task))


def first_step_losses(dataset: PairedDataset, *, lam: float, seed: int, config: TrainConfig) -> dict:
    """The losses of the first step of run (`lam`, `seed`) on `dataset`, as the sweeps' trainer
    (`training.vectorized.fit_many`) records them after training that one step: `task1`, `task2`, `align`
    and `total = task1 + task2 + lam * align`."""
    from alignbook.training.vectorized import fit_many

    one_step = config.replace(num_steps=1, num_checkpoints=0, check_every=0, patience=0)
    record = fit_many(dataset, [lam], [seed], one_step)[0].history[0]
    losses = {"task1": record["train_task1"], "task2": record["train_task2"], "align": record["train_align"]}
    return {**losses, "total": losses["task1"] + losses["task2"] + lam * losses["align"]}


# --------------------------------------------------------------------------------------------------------
# The chapter's runs


@dataclass(frozen=True)
class ControlRuns:
    """The chapter's runs, `runs[lam]` a `FitResult` in increasing `lam`, and the sweep that made them
    (`sweep.n_computed` runs trained, `n_cached` read back, `n_measured` measured again from weights)."""

    runs: dict
    sweep: SweepResult

    def __getitem__(self, lam: float) -> FitResult:
        return self.runs[lam]

    @property
    def dataset(self) -> PairedDataset:
        """The data every run trained on (the draw of the runs' seed)."""
        return self.sweep.dataset(0)

    def table(self) -> pd.DataFrame:
        """One row per run, indexed by `lam`: its scores, checkpoints and alignment (`FitResult.summary`)."""
        return pd.DataFrame([run.summary() for run in self.runs.values()]).set_index("lam")

    def representations(self, lam: float, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The test representations `(z1, z2)` of the run at `lam` (its first `rows` test examples, all by
        default), recomputed from its stored weights."""
        return self.sweep.representations(list(self.runs).index(lam), rows=rows)


def control_runs(*, redundancy: int, depth: int, n_samples: int, seed: int, lams: Sequence[float],
                 config: TrainConfig, workers: int | str = "auto", backend: str = "local",
                 name: str = "alignment_control", progress: bool = False) -> ControlRuns:
    """The chapter's runs: each `lam` of `lams` on `synthetic.make_dataset(redundancy, depth=depth,
    n_samples=n_samples, seed=seed)` (the seed draws the data too), training seed `seed`, recipe `config`.

    They go through the sweep engine (`run_sweep(..., workers=workers, backend=backend)`): runs already in
    the cache are read back, the others are trained together by the vectorised trainer and cached, and each
    is measured from its stored weights with `config`'s measurement options; a second call that differs
    only in those options (`metric_layer`, ...) retrains nothing. A diverged run is an error here: the
    chapter shows every run.
    """
    spec = SweepSpec.from_dict({
        "name": name,
        "dataset": {"kind": "synthetic", "n_samples": int(n_samples), "redundancy": int(redundancy),
                    "depth": int(depth)},
        "lams": sorted(float(lam) for lam in lams), "seeds": [int(seed)], "data_seed": int(seed),
        "train": config.to_dict(),
    })
    result = run_sweep(spec, workers=workers, backend=backend, progress=progress)
    failed = [run.lam for run in result.runs if not run.ok]
    if failed:
        fail("lams", f"the runs at lam = {failed} diverged", "lower lr or the alignment strength")
    return ControlRuns({run.lam: run for run in result.runs}, result)


# --------------------------------------------------------------------------------------------------------
# What the prose quotes, with its directions in words


def _loss_text(value: float) -> str:
    """A loss for a table: four decimals, or "not computed" where the run skipped it (`lam = 0`)."""
    return "not computed" if value != value else f"{value:.4f}"


def curve_summary(runs: ControlRuns) -> pd.DataFrame:
    """Per run (index `lam`): the epochs trained, the alignment loss of the first and the last epoch and
    which way it went (text: "not computed" at `lam = 0`), and the epoch (0-based) of each encoder's best
    validation checkpoint."""
    rows = {}
    for lam, run in runs.runs.items():
        first, last = run.history[0]["train_align"], run.history[-1]["train_align"]
        rows[lam] = {"epochs": len(run.history), "alignment loss, first epoch": _loss_text(first),
                     "alignment loss, last epoch": _loss_text(last),
                     "alignment loss": "not computed" if first != first else direction(last - first),
                     "best epoch, enc1": run.best_epoch1, "best epoch, enc2": run.best_epoch2}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("lam")


def accuracy_comparison(runs: ControlRuns, *, lam: float, bounds: dict) -> pd.DataFrame:
    """Each encoder's test accuracy (rows enc1, enc2) at `lam = 0` and at `lam`, its Bayes bound (`bounds`:
    `synthetic.exact_info`'s `bayes_acc_x1`, `bayes_acc_x2`) and whether `lam` is higher than `lam = 0`."""
    base, aligned = runs[0.0], runs[lam]
    frame = pd.DataFrame({"lam = 0": [base.acc1, base.acc2], f"lam = {lam:g}": [aligned.acc1, aligned.acc2],
                          "Bayes bound": [bounds["bayes_acc_x1"], bounds["bayes_acc_x2"]]},
                         index=pd.Index(["enc1", "enc2"], name="encoder"))
    changes = frame[f"lam = {lam:g}"] - frame["lam = 0"]
    frame[f"lam = {lam:g} vs lam = 0"] = [direction(c, ("higher", "lower", "equal")) for c in changes]
    return frame


def metric_comparison(runs: ControlRuns, lam: float) -> pd.DataFrame:
    """Each alignment metric (rows) at `lam = 0`, at `lam` and for unrelated representations (`chance`),
    with whether `lam = 0` is above its chance level and whether `lam` is higher than `lam = 0`, in words."""
    base, aligned = runs[0.0], runs[lam]
    frame = pd.DataFrame({"lam = 0": base.alignment, f"lam = {lam:g}": aligned.alignment,
                          "chance": aligned.alignment_chance})
    frame["lam = 0 vs chance"] = [direction(c, ("above", "below", "at"))
                                  for c in frame["lam = 0"] - frame["chance"]]
    frame[f"lam = {lam:g} vs lam = 0"] = [direction(c, ("higher", "lower", "equal"))
                                          for c in frame[f"lam = {lam:g}"] - frame["lam = 0"]]
    return frame.rename_axis("metric")


def layer_comparison(last: ControlRuns, best: ControlRuns, lam: float) -> pd.DataFrame:
    """Each alignment metric (rows) of the same two runs (`lam = 0` and `lam`) measured between the last
    layers (`last`) and between the best pair of layers (`best`), with the direction of the effect of `lam`
    under each (`"higher"` or `"lower"` than at `lam = 0`) and whether the two agree."""
    frame = pd.DataFrame({"last layers, lam = 0": last[0.0].alignment,
                          f"last layers, lam = {lam:g}": last[lam].alignment,
                          "best pair, lam = 0": best[0.0].alignment,
                          f"best pair, lam = {lam:g}": best[lam].alignment})
    frame = frame.loc[list(last[0.0].alignment)]  # the scores, not the best pair's layer numbers
    for kind in ("last layers", "best pair"):
        changes = frame[f"{kind}, lam = {lam:g}"] - frame[f"{kind}, lam = 0"]
        frame[f"effect, {kind}"] = [direction(c, ("higher", "lower", "equal")) for c in changes]
    same = frame["effect, last layers"] == frame["effect, best pair"]
    frame["same direction"] = np.where(same, "yes", "no")
    return frame.rename_axis("metric")


@remembered()
def lam0_check(dataset: PairedDataset, *, seed: int, config: TrainConfig) -> dict:
    """`training.single.lam0_matches_independent(dataset, seed=seed, config=config)` as
    `{"enc1": bool, "enc2": bool}`: whether each encoder trained jointly at `lam = 0` ends with exactly its
    weights when trained alone. Stored (`storage.memo.remembered`, keyed by the code of every module it
    reaches, the trainers'): it trains four encoders, and a re-executed chapter reads the answer back unless
    the training code changed."""
    from alignbook.training import single  # imports torch: only when computed

    same = single.lam0_matches_independent(dataset, seed=seed, config=config)
    return {"enc1": bool(same[0]), "enc2": bool(same[1])}
