"""Vectorised trainer: many runs `(lam, seed)` trained at once, each as `single.fit` trains it.

The synthetic study trains hundreds of tiny models (two 12-wide MLP branches each). One at a time, a step is
almost all per-operation overhead; here G runs are stacked on a leading "lane" axis (2G lanes: both branches
of every run, `alignbook.training.lanes`) and every layer of every run is one batched matrix product. What
stays per run is exactly `single.fit`'s recipe (see its module docstring): the same initial weights, the same
mini-batches, the same losses, AdamW arithmetic, clipping per branch, checkpoint per branch, early stopping,
divergence handling and stored weights. Only float rounding differs (batched instead of single matrix
products), so results agree with `single.fit` to rounding as amplified by training (`alignbook.training.bench`
measures both, with the rounding floor).

A run's numbers do not depend, bit for bit, on the runs beside it: not on their lams, seeds or data, not on
how many share its group, not on the group dropping its stopped runs, nor on the number of threads. Every
per-lane computation reads its own lane only; batched products give each matrix the same bits whatever the
batch count, from two matrices on (lanes come in pairs; the InfoNCE kernel never multiplies fewer than two
runs, nor into strided outputs); evaluation works through blocks of a fixed size (`lanes.evaluate`) and the
InfoNCE's exp2 in whole vector blocks (`kernels`). The tests check this on one to four threads.

The step itself (hand-written forward and backward of all lanes, kernels, buffers) is
`alignbook.training.stacked`; this module keeps the group's checkpoints, early stopping and results. A
stopped (or failed) run is no longer validated nor recorded, and once `COMPACT_SHARE` of a group's runs
have stopped the group drops them from every buffer, so that they stop costing steps.

PyTorch's own model ensembling (`torch.func.stack_module_state` + `vmap` + `functional_call`, one AdamW over
the stacked parameters: `alignbook.training.ensemble`) trains the benchmark's workload 7x to 8x slower per
run-step than this trainer (measured on a 2-core AMD EPYC with AVX-512, torch 2.13, one thread, in the same
process: 6.6 to 8.3 ms against 0.9 to 1.0 ms per run-step), far from the 15 % that would have justified
replacing the hand-written step; `python -m alignbook bench` measures both. The levers measured and not
taken are listed in `alignbook.training.bench`.

Memory guard: a group's memory is about `RUN_BYTES_PER_EXAMPLE * batch_size` bytes per run (activations of
both branches, their gradients and the gathered batch) plus one chunk of logits, so `fit_many` trains at most
`max_group_runs(...)` runs at once (about `GROUP_MEMORY_BYTES` in all) and the rest in further groups.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from alignbook.checks import check_lam, check_positive_int, check_seed, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.alignment import lam_schedule
from alignbook.training.common import Patience, check_run_args, divergence_message, resolve_config, step_plan
from alignbook.training.lanes import LaneData, Layout, evaluate, lanes_of
from alignbook.training.results import FitResult
from alignbook.training.seeding import run_batches
from alignbook.training.stacked import StackedRuns
from alignbook.training.threads import DEFAULT_THREADS, limited_threads

# Budget for one group of runs trained together, and the bytes per run per batch example it is split by.
GROUP_MEMORY_BYTES = 1 << 30
RUN_BYTES_PER_EXAMPLE = 4096
# Most runs in one group: beyond this per-operation overhead is already negligible.
MAX_GROUP_RUNS = 128
# A group drops its stopped runs once they are this share of its runs. Measured (64 runs stopping early,
# one thread): dropping them at 1/8 or at every stop took 28.3 to 28.6 s, at 1/4 or 1/2 32 s, never 52 s;
# a compaction costs about 0.3 of a step of the group, so 1/8 also bounds its cost when runs stop one by one.
COMPACT_SHARE = 0.125


class _Group:
    """G runs trained together: their `StackedRuns`, best checkpoints and per-run bookkeeping.

    Runs are held sorted by decreasing `lam`; `ids[r]` is run r's index in the caller's lists and lane
    `2r + m - 1` its branch m. `live[r]` says whether run r still trains; runs that stopped stay in the
    buffers (trained but not recorded) until `_compact` drops them.
    """

    def __init__(self, data: LaneData, ids: list[int], lams: list[float], seeds: list[int],
                 config: TrainConfig):
        started = time.perf_counter()
        order = sorted(range(len(lams)), key=lambda i: -lams[i])  # stable: ties keep their order
        self.data, self.config = data, config
        self.ids, self.seeds = [ids[i] for i in order], [seeds[i] for i in order]
        self.layout = Layout(data.in_dim, config, data.out_dim)
        self.stack = StackedRuns(data, self.layout, [lams[i] for i in order], self.seeds, data.source[order],
                                 config)
        runs = self.stack.runs
        self.best_body = self.stack.body.clone()
        self.best_score = np.full(2 * runs, math.inf)
        self.best_epoch = np.full(2 * runs, -1)
        self.best_step = np.full(2 * runs, -1)
        self.best_val_acc = np.full(2 * runs, np.nan)
        self.live = np.ones(runs, dtype=bool)
        self.failed = np.zeros(runs, dtype=bool)
        self.steps = np.zeros(runs, dtype=np.int64)
        self.hit_cap = np.zeros(runs, dtype=bool)
        self.seconds = np.full(runs, (time.perf_counter() - started) / runs)
        self.errors = [""] * runs
        self.histories: list[list[dict]] = [[] for _ in range(runs)]
        self.patience = Patience(config.patience, runs)

    def _compact(self, keep: np.ndarray) -> None:
        """Drop every run but `keep` (increasing positions) from the buffers and the bookkeeping."""
        self.stack.keep(keep)
        lanes = lanes_of(keep)
        self.best_body = self.best_body[torch.from_numpy(lanes)]
        for name in ("best_score", "best_epoch", "best_step", "best_val_acc"):
            setattr(self, name, getattr(self, name)[lanes])
        for name in ("live", "failed", "steps", "hit_cap", "seconds"):
            setattr(self, name, getattr(self, name)[keep])
        for name in ("ids", "seeds", "errors", "histories"):
            setattr(self, name, [getattr(self, name)[run] for run in keep])
        self.patience.keep(keep)

    # ------------------------------------------------------------------------------------------ training

    def train(self, progress: bool = False, label: str = "") -> list[tuple[int, FitResult]]:
        """Train every run to its cap or its early stop; return (caller's index, result) of each."""
        config, stack = self.config, self.stack
        per_epoch, total, stops = step_plan(stack.n_train, config)
        periods = zip([0, *stops[:-1]], stops, strict=True)
        if progress:
            from tqdm import tqdm  # only when asked

            periods = tqdm(periods, total=len(stops), desc=label or f"{stack.runs} runs", unit="checkpoint")
        finished: list[tuple[int, FitResult]] = []
        for start, stop in periods:
            started, live = time.perf_counter(), self.live.copy()
            order = self._run_batches(start, stop)  # (runs, steps, batch)
            sums = torch.zeros(4, stack.runs, dtype=torch.float64)
            align_steps = np.zeros(stack.runs, dtype=np.int64)
            lam_epoch = None
            for offset in range(stop - start):
                epoch, step = divmod(start + offset, per_epoch)
                if epoch != lam_epoch:
                    lam_epoch = epoch
                    lam_t = np.array([lam_schedule(lam, config.lam_schedule, config.schedule_epochs, epoch)
                                      for lam in stack.lams])
                values = stack.step(order[:, offset], lam_t)
                sums += values
                align_steps += lam_t > 0
                self._check_finite(values, epoch, step, start + offset)
            self._end_period(epoch, stop, lam_t, sums / (stop - start), align_steps / (stop - start),
                             stop == total)
            self.seconds[live] += (time.perf_counter() - started) / live.sum()
            done = ~self.live
            if done.all() or done.sum() >= COMPACT_SHARE * stack.runs:
                finished += self._finish(np.flatnonzero(done))
                if done.all():
                    break
                self._compact(np.flatnonzero(~done))
        return finished

    def _run_batches(self, start: int, stop: int) -> torch.Tensor:
        n_train = self.stack.n_train
        by_seed = {seed: np.stack(run_batches(n_train, self.config.batch_size, seed, start, stop))
                   for seed in set(self.seeds)}  # runs sharing a seed share their batches
        return torch.from_numpy(np.stack([by_seed[seed] for seed in self.seeds]))

    def _check_finite(self, values: torch.Tensor, epoch: int, step: int, done_steps: int) -> None:
        """Mark live runs whose losses became non-finite as failed, with single.fit's message."""
        bad = ~torch.isfinite(values).all(dim=0).numpy() & self.live
        names = ("task loss of enc1", "task loss of enc2", "alignment loss", "total loss")
        for run in np.flatnonzero(bad):
            row = values[:, run].tolist()
            which = next(i for i, v in enumerate(row) if not math.isfinite(v))
            self._fail(run, divergence_message(f"epoch {epoch}, step {step}", names[which], row[which],
                                                self.stack.lams[run], self.config), done_steps)

    def _fail(self, run: int, message: str, steps: int) -> None:
        self.live[run], self.failed[run], self.errors[run], self.steps[run] = False, True, message, steps

    def _end_period(self, epoch: int, step: int, lam_t: np.ndarray, means: torch.Tensor,
                    align_share: np.ndarray, at_cap: bool) -> None:
        """Validate the live runs, keep best checkpoints, append their history, apply early stopping.

        `means` are the (4, runs) losses averaged over the period's steps (the alignment loss counted as 0
        where it was off), `align_share` the share of those steps on which each run's alignment was on.
        """
        runs = np.flatnonzero(self.live)
        lanes = lanes_of(runs)
        body = self.stack.body if len(runs) == self.stack.runs else self.stack.body[torch.from_numpy(lanes)]
        sources = self.stack.lane_sources(runs)
        accuracy, loss = evaluate(body, self.layout, self.data, "valid", sources, self.config)
        for i, run in enumerate(runs):
            for modality in (1, 2):
                value = float(loss[2 * i + modality - 1])
                if not math.isfinite(value):
                    self._fail(run, divergence_message(f"epoch {epoch}, validation",
                                                       f"validation loss of enc{modality}", value,
                                                       self.stack.lams[run], self.config), step)
                    break
        ok = np.repeat(self.live[runs], 2)
        score = -accuracy if self.data.task == "classification" else loss
        improved = (score < self.best_score[lanes]) & ok  # strictly better: ties keep the earliest one
        better = lanes[improved]
        self.best_score[better], self.best_val_acc[better] = score[improved], accuracy[improved]
        self.best_epoch[better], self.best_step[better] = epoch, step
        self.best_body[torch.from_numpy(better)] = self.stack.body[torch.from_numpy(better)]
        means = means.tolist()
        run_improved = np.zeros(self.stack.runs, dtype=bool)
        run_improved[runs] = improved.reshape(-1, 2).any(axis=1)
        stopping = self.patience.update(run_improved)
        for i, run in enumerate(runs):
            if not self.live[run]:
                continue
            share = float(align_share[run])
            self.histories[run].append({
                "epoch": epoch, "step": step, "lam": float(lam_t[run]),
                "train_task1": means[0][run], "train_task2": means[1][run],
                "train_align": means[2][run] / share if share > 0 else float("nan"),
                "val_acc1": float(accuracy[2 * i]), "val_loss1": float(loss[2 * i]),
                "val_acc2": float(accuracy[2 * i + 1]), "val_loss2": float(loss[2 * i + 1]),
                "temperature": float(torch.as_tensor(self.config.temperature)),  # as single.fit records it
            })
            if at_cap or stopping[run]:
                self.live[run], self.steps[run], self.hit_cap[run] = False, step, at_cap

    def _finish(self, runs: np.ndarray) -> list[tuple[int, FitResult]]:
        """The FitResults of `runs` (stopped, failed or at the cap): test scores and weights of each branch
        at its best checkpoint."""
        started = time.perf_counter()
        ok = runs[~self.failed[runs]]
        lanes = lanes_of(ok)
        best = self.best_body[torch.from_numpy(lanes)]
        sources = self.stack.lane_sources(ok)
        accuracy, loss = evaluate(best, self.layout, self.data, "test", sources, self.config)
        seconds = (time.perf_counter() - started) / max(len(runs), 1)
        finished = []
        for run in runs:
            result = FitResult(lam=self.stack.lams[run], seed=self.seeds[run], config=self.config,
                               history=self.histories[run], steps=int(self.steps[run]),
                               hit_cap=bool(self.hit_cap[run]), time_s=float(self.seconds[run]) + seconds)
            if self.failed[run]:
                result.status, result.error = "failed", self.errors[run]
            else:
                i = int(np.searchsorted(ok, run))
                for modality in (1, 2):
                    lane, row = 2 * run + modality - 1, 2 * i + modality - 1
                    setattr(result, f"acc{modality}", float(accuracy[row]))
                    setattr(result, f"loss{modality}", float(loss[row]))
                    setattr(result, f"val_acc{modality}", float(self.best_val_acc[lane]))
                    setattr(result, f"best_epoch{modality}", int(self.best_epoch[lane]))
                    setattr(result, f"best_step{modality}", int(self.best_step[lane]))
                    setattr(result, f"weights{modality}", self.layout.lane_weights(
                        best[row], self.stack.names, self.data.in_dims[modality - 1]))
            finished.append((self.ids[run], result))
        return finished


# ---------------------------------------------------------------------------------------------- public API


def vectorization_blocker(config: TrainConfig) -> str:
    """Why `fit_many` cannot train runs with `config`, or '' when it can: the one rule the sweep also asks.

    The hand-written step knows MLP encoders with a fixed temperature only.
    """
    if config.encoder != "mlp":
        return f"config.encoder: fit_many trains MLP encoders only, got {config.encoder!r}"
    if config.learn_temperature:
        return "config.learn_temperature: fit_many needs a fixed temperature"
    return ""


def check_vectorizable(config: TrainConfig) -> None:
    """Raise ValueError when runs with `config` cannot be trained by `fit_many` (use `single.fit` instead)."""
    blocker = vectorization_blocker(config)
    if blocker:
        raise ValueError(f"{blocker} (train these runs one by one with alignbook.training.single.fit)")


def max_group_runs(batch_size: int, memory_bytes: int = GROUP_MEMORY_BYTES) -> int:
    """Most runs trained at once: `memory_bytes` over about `RUN_BYTES_PER_EXAMPLE * batch_size` per run.

    A run's share of a step is its activations, their gradients and its gathered batch: a few hundred floats
    per example for the synthetic MLPs (`RUN_BYTES_PER_EXAMPLE` leaves room for wider ones). The B x B logits
    do not count: `InfoNCEKernel` materialises them a cache-sized chunk of runs at a time.
    """
    return max(1, min(MAX_GROUP_RUNS, memory_bytes // (RUN_BYTES_PER_EXAMPLE * batch_size)))


def _check_runs(lams: Sequence[float], seeds: Sequence[int]) -> tuple[list[float], list[int]]:
    for name, values in (("lams", lams), ("seeds", seeds)):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            fail(name, f"must be a sequence (one entry per run), got {type(values).__name__}")
    if len(lams) != len(seeds):
        fail("lams/seeds", f"must have the same length (run i is (lams[i], seeds[i])), got {len(lams)} lams "
                           f"and {len(seeds)} seeds", "for a lams x seeds grid pass the pairs of "
                           "itertools.product(lams, seeds)")
    if len(lams) == 0:
        fail("lams", "no runs: lams and seeds are empty")
    lams = [check_lam(f"lams[{i}]", lam) for i, lam in enumerate(lams)]
    return lams, [check_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]


def _check_datasets(datasets, runs: int) -> list[PairedDataset]:
    """One dataset per run: `datasets` itself for every run, or its entries; each checked once, all alike."""
    if isinstance(datasets, PairedDataset):
        datasets = [datasets] * runs
    elif isinstance(datasets, (str, bytes)) or not isinstance(datasets, Sequence):
        fail("datasets", f"must be a PairedDataset or a sequence of them (one per run), got "
                         f"{type(datasets).__name__}")
    elif len(datasets) != runs:
        fail("datasets", f"must hold one dataset per run: {len(datasets)} datasets for {runs} runs")
    first, seen = datasets[0], set()
    for i, dataset in enumerate(datasets):
        if id(dataset) in seen:
            continue
        seen.add(id(dataset))
        check_run_args(dataset, 0)
        for what, value in (("input shapes", lambda d: d.input_shapes), ("task", lambda d: d.task),
                            ("classes", lambda d: d.num_classes),
                            ("split sizes", lambda d: tuple(len(s) for s in d.splits.values()))):
            if value(dataset) != value(first):
                fail("datasets", f"run {i}'s dataset differs from run 0's in its {what}: {value(dataset)} "
                                 f"against {value(first)}", "train differently shaped data in separate calls")
    return list(datasets)


def fit_many(datasets: PairedDataset | Sequence[PairedDataset], lams: Sequence[float], seeds: Sequence[int],
             config: TrainConfig | None = None, *, progress: bool = False, group_runs: int | None = None,
             threads: int = DEFAULT_THREADS, **overrides) -> list[FitResult]:
    """Train runs `(lams[i], seeds[i])` together; return their FitResults in that order.

    `datasets` is one `PairedDataset` that every run trains on, or one per run (replicates that vary the
    data: the same input shapes, task, classes and split sizes; runs sharing a dataset object share its
    arrays). Each result is what `single.fit(datasets[i], lams[i], seeds[i], config, on_divergence="mark")`
    returns, to float rounding: same initial weights, batches, losses, optimiser, clipping, checkpoints,
    early stopping, history and stored weights; and bit for bit whatever other runs train beside it. A run
    whose loss becomes non-finite is marked failed (`status="failed"`, `error` says where) and the others go
    on. `config` and keyword `overrides` as in `single.fit`; only `encoder="mlp"` with a fixed temperature
    can be vectorised (else ValueError: use `single.fit`). Runs are trained in groups of at most
    `group_runs` (default `max_group_runs(config.batch_size)`, the memory guard); `time_s` of a run is its
    share of its group's time while it trained, plus its own test time. Trains on `threads` torch and BLAS
    threads (default one, whoever calls it) and restores the caller's settings afterwards.
    """
    with limited_threads(threads):
        return _fit_many(datasets, lams, seeds, config, progress=progress, group_runs=group_runs, **overrides)


def _fit_many(datasets, lams: Sequence[float], seeds: Sequence[int], config: TrainConfig | None, *,
              progress: bool, group_runs: int | None, **overrides) -> list[FitResult]:
    config = resolve_config(config, overrides)
    check_vectorizable(config)
    lams, seeds = _check_runs(lams, seeds)
    datasets = _check_datasets(datasets, len(lams))
    group_runs = (max_group_runs(config.batch_size) if group_runs is None
                  else check_positive_int("group_runs", group_runs))
    n_groups = -(-len(lams) // group_runs)
    size = -(-len(lams) // n_groups)  # even groups: 75 runs by 64 make 38 + 37, not 64 + 11
    results: list[FitResult | None] = [None] * len(lams)
    for number, start in enumerate(range(0, len(lams), size)):
        ids = list(range(start, min(start + size, len(lams))))
        data = LaneData.from_datasets([datasets[i] for i in ids])
        group = _Group(data, ids, [lams[i] for i in ids], [seeds[i] for i in ids], config)
        label = f"group {number + 1}/{n_groups} ({len(ids)} runs)"
        for i, result in group.train(progress=progress, label=label):
            results[i] = result
    return results
