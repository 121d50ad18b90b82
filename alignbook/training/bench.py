"""Benchmark: the vectorised trainer against the one-run trainer and against an idiomatic PyTorch loop.

`python -m alignbook bench` trains one fixed synthetic workload (24 runs by default: 8 values of `lam`, 0
included, times 3 seeds, at one redundancy level) three ways in the same process and under the same thread
settings (`vectorized.fit_many`, `single.fit`, `peer_fit`), compares their results, and prints times and
achieved GFLOP/s (matrix products counted analytically, the same count for every trainer) against a
float32 matmul peak measured in the same run, then `idiomatic <ratio>x` (the peer's time over fit_many's),
`peak <percent>%` (fit_many's achieved fraction of the peak) and last `speedup <ratio>x` (single.fit's
time over fit_many's). The default workload (n_samples 16384, 3 epochs, batch 256: the sweep's setting)
takes about two minutes of CPU time; `--quick` is a seconds-long smoke version for tests.

Times are CPU seconds of this process (wall seconds are printed next to them): with one thread (the
default) they equal wall time on an idle machine, and on a shared one they leave out the time the process
waited for a core, which would otherwise change every ratio with the neighbours' load. With more threads
they add the threads' times up, so ratios then compare work, not latency.

The peer (`peer_fit`) is the loop a researcher writes: an `nn.Module` per encoder, `torch.optim.AdamW`,
autograd through the textbook symmetric InfoNCE (`textbook_info_nce`), one run at a time. It is given the
same architecture, initial weights, data, mini-batches, epochs, clipping, checkpoints and alignment
measurement as the package's trainers, so it computes the same function up to float rounding.

How results are compared. All trainers start from the same weights and see the same batches, so they
compute the same function up to float rounding (the test suite checks equality to 1e-6 where training
does not amplify rounding). On the synthetic data training does amplify it (ReLU units and checkpoint
choices near a tie are decided by rounding), so the benchmark also trains the workload with single.fit on
training inputs moved by one float32 ulp (`nudged`): the rounding floor, measured in the same run and
reported next to the trainers' differences. A bug (wrong gradient, batch or initialisation) shows in the first
epoch's mean losses at the percent level and in run status; those decide the exit status, with the peer's
check: its seed-mean accuracies must match fit_many's within the rounding floor (`peer_agreement`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alignbook.checks import check_positive_int, check_redundancy, fail
from alignbook.config import TrainConfig
from alignbook.training.results import FitResult
from alignbook.training.seeding import batch_indices, branch_seed
from alignbook.training.threads import limited_threads

BENCH_LAMS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
# The per-run tolerances; reported, with the rounding floor measured next to them.
ACCURACY_TOLERANCE = 0.002
ALIGNMENT_TOLERANCE = 0.01
# Rounding moves first-epoch mean losses by up to ~4e-3 (relative) on this workload: chaos sets in within
# the epoch (see the module docstring). Real bugs move them by far more; this is the failure threshold.
FIRST_EPOCH_TOLERANCE = 2e-2
# SVCCA keeps the top directions of each representation: where a representation is rank-deficient (binary
# inputs, dead units) those directions are decided by rounding noise, so SVCCA moves by ~0.01 under a 1e-7
# relative perturbation of z. It is reported apart.
UNSTABLE_METRICS = ("svcca",)


def _matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Best GFLOP/s (per CPU second) of a float32 size x size matmul on this machine, now (threads as set)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        torch.mm(a, b, out=out)
        best = min(best, time.process_time() - started)
    return 2 * size**3 / best / 1e9


def _timed(function, *args, **kwargs) -> tuple[object, float, float]:
    """`function(*args, **kwargs)`, the CPU seconds of this process it took and its wall seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def workload_flops(config, lams, n_train: int, n_valid: int, in_dims: tuple[int, int], out_dim: int) -> float:
    """Matrix-product FLOPs of training `lams` runs (both trainers do these products).

    Per step and branch: forward `2 B sum(in * out)` over the encoder and head, backward twice that; with the
    alignment term also the projection head (same rule) and the InfoNCE: `2 B^2 p` for the logits and
    `4 B^2 p` for the two gradient products. Per checkpoint: a validation forward of each branch. The exp over
    the B x B logits and elementwise work are not counted.
    """
    from alignbook.models.alignment import lam_schedule
    from alignbook.models.branch import projection_dims
    from alignbook.training.common import step_plan

    batch = min(config.batch_size, n_train)
    per_epoch, steps, checkpoints = step_plan(n_train, config)
    hidden = [config.width] * config.depth
    body = [sum(a * b for a, b in zip([d, *hidden, config.repr_dim], [*hidden, config.repr_dim, out_dim],
                                      strict=True)) for d in in_dims]
    layers = projection_dims(config)
    projection = sum(a * b for a, b in layers)
    aligned_dim = config.proj_dim if layers else config.repr_dim
    total = 0.0
    for lam in lams:
        for epoch in range(-(-steps // per_epoch)):
            per_step = 3 * 2 * batch * sum(body)
            if lam_schedule(lam, config.lam_schedule, config.schedule_epochs, epoch) > 0:
                per_step += 3 * 2 * batch * 2 * projection + 6 * batch * batch * aligned_dim
            total += min(per_epoch, steps - epoch * per_epoch) * per_step
        total += len(checkpoints) * 2 * n_valid * sum(body)
    return total


def compare_runs(results, reference) -> dict:
    """Largest differences between two lists of FitResults for the same runs.

    Keys: `acc` (test accuracy, either encoder), `alignment` (every metric but UNSTABLE_METRICS), `unstable`,
    `first_epoch` (relative difference of the first epoch's mean losses), `within` (fraction of runs whose
    accuracies and alignment are within ACCURACY_TOLERANCE / ALIGNMENT_TOLERANCE), `same_status`.
    """
    acc, stable, unstable, first, within, compared = 0.0, 0.0, 0.0, 0.0, 0, 0
    same_status = all(a.status == b.status for a, b in zip(results, reference, strict=True))
    for a, b in zip(results, reference, strict=True):
        if not (a.ok and b.ok):
            continue
        compared += 1
        for key in ("train_task1", "train_task2", "train_align", "val_loss1", "val_loss2"):
            x, y = a.history[0][key], b.history[0][key]
            if not (np.isnan(x) and np.isnan(y)):
                first = max(first, abs(x - y) / max(abs(y), 1e-12))
        run_acc = max(abs(a.acc1 - b.acc1), abs(a.acc2 - b.acc2))
        run_alignment = max((abs(a.alignment[name] - value) for name, value in b.alignment.items()
                             if name not in UNSTABLE_METRICS), default=0.0)
        acc, stable = max(acc, run_acc), max(stable, run_alignment)
        unstable = max([unstable] + [abs(a.alignment[name] - b.alignment[name]) for name in UNSTABLE_METRICS
                                     if name in b.alignment])
        within += run_acc <= ACCURACY_TOLERANCE and run_alignment <= ALIGNMENT_TOLERANCE
    return {"acc": acc, "alignment": stable, "unstable": unstable, "first_epoch": first,
            "within": within / compared if compared else float("nan"), "same_status": same_status}


def nudged(dataset):
    """`dataset` with every training input moved up by one float32 ulp: a rounding-sized change of data."""
    from alignbook.data.container import PairedSplit

    def up(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return np.where(x != 0, np.nextafter(x, np.float32(np.inf)), x)  # zeros stay (no denormals)

    train = dataset.train
    return dataclasses.replace(dataset, train=PairedSplit(up(train.x1), up(train.x2), train.y))


def _measurement_seconds(results, config) -> float:
    """CPU time of the alignment measurements of `results` (kept representations), which every trainer
    makes identically after training (`metrics.pair_alignment` on the test representations)."""
    from alignbook import metrics

    started = time.process_time()
    for result in results:
        if result.ok:
            metrics.pair_alignment([result.z1], [result.z2], config.metric_layer, k=config.knn_k,
                                   seed=result.seed)
    return time.process_time() - started


# ----------------------------------------------------------------------------------------- the idiomatic peer


class PeerEncoder(nn.Module):
    """One modality as a researcher writes it: an MLP encoder, its task head and its projection head.

    The layers are created in the order `models.build_branch` creates them (encoder first to last layer, head,
    projection), so the same seed gives the same initial weights as the package's trainers.
    """

    def __init__(self, in_dim: int, out_dim: int, config: TrainConfig):
        super().__init__()
        layers: list[nn.Module] = []
        for fan_in in [in_dim] + [config.width] * (config.depth - 1):
            layers += [nn.Linear(fan_in, config.width), nn.ReLU()]
        self.encoder = nn.Sequential(*layers, nn.Linear(config.width, config.repr_dim))
        self.head = nn.Linear(config.repr_dim, out_dim)
        self.projection = nn.Sequential(nn.Linear(config.repr_dim, config.proj_dim), nn.ReLU(),
                                        nn.Linear(config.proj_dim, config.proj_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.head(z)


def textbook_info_nce(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE as papers write it: cross-entropy of the cosine logits, both directions, averaged."""
    p1, p2 = F.normalize(p1, dim=1), F.normalize(p2, dim=1)
    logits = p1 @ p2.T / temperature
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def peer_fit(dataset, lam: float, seed: int, config: TrainConfig) -> FitResult:
    """One run trained by an idiomatic PyTorch loop, for the benchmark's comparison (not for the study).

    Same recipe as `single.fit` (initial weights, `seeding.batch_indices`, losses, one AdamW per encoder with
    torch's defaults, gradient clipping per encoder, checkpoint per encoder on validation accuracy, alignment
    measured by `metrics.pair_alignment`), written the plain way: modules, autograd, one optimiser step per
    mini-batch. Classification, MLP encoders, a fixed temperature and a constant `lam` only: the workload.
    """
    from alignbook import metrics

    if dataset.task != "classification" or config.encoder != "mlp" or config.learn_temperature:
        fail("config", "the peer trains classification with MLP encoders and a fixed temperature only")
    if config.lam_schedule != "constant" and config.schedule_epochs > 0:
        fail("config.lam_schedule", "the peer trains with a constant lam only")

    def inputs(split) -> list[torch.Tensor]:
        return [torch.as_tensor(x, dtype=torch.float32).reshape(len(split), -1) for x in (split.x1, split.x2)]

    x_train, x_valid, x_test = inputs(dataset.train), inputs(dataset.valid), inputs(dataset.test)
    y_train, y_valid, y_test = (torch.as_tensor(split.y, dtype=torch.long)
                                for split in (dataset.train, dataset.valid, dataset.test))
    models, optimizers = [], []
    for modality, x in zip((1, 2), x_train, strict=True):
        with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
            torch.manual_seed(branch_seed(seed, modality))
            model = PeerEncoder(x.shape[1], dataset.num_classes, config)
        models.append(model)
        optimizers.append(torch.optim.AdamW(model.parameters(), lr=config.lr,
                                            weight_decay=config.weight_decay))
    best = [{"acc": -math.inf} for _ in models]
    history = []
    for epoch in range(config.num_epochs):
        for model in models:
            model.train()
        sums = np.zeros(3)
        batches = batch_indices(len(y_train), config.batch_size, seed, epoch)
        for index in batches:
            index = torch.from_numpy(index)
            (z1, out1), (z2, out2) = (model(x[index]) for model, x in zip(models, x_train, strict=True))
            task1, task2 = F.cross_entropy(out1, y_train[index]), F.cross_entropy(out2, y_train[index])
            loss = task1 + task2
            if lam > 0:
                p1, p2 = models[0].projection(z1), models[1].projection(z2)
                align = textbook_info_nce(p1, p2, config.temperature)
                loss = loss + lam * align
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for model, optimizer in zip(models, optimizers, strict=True):
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
            sums += [task1.item(), task2.item(), align.item() if lam > 0 else math.nan]
        record = {"epoch": epoch, "lam": lam, "train_task1": sums[0] / len(batches),
                  "train_task2": sums[1] / len(batches), "train_align": sums[2] / len(batches)}
        for modality, (model, x, keep) in enumerate(zip(models, x_valid, best, strict=True), start=1):
            model.eval()
            with torch.no_grad():
                output = model(x)[1]
            acc = (output.argmax(dim=1) == y_valid).sum().item() / len(y_valid)
            record[f"val_acc{modality}"] = acc
            record[f"val_loss{modality}"] = F.cross_entropy(output, y_valid).item()
            if acc > keep["acc"]:
                keep.update(acc=acc, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        history.append(record)
    result = FitResult(lam=lam, seed=seed, config=config, history=history)
    n_align = min(len(y_test), config.eval_max_samples)
    representations = []
    for modality, (model, x, keep) in enumerate(zip(models, x_test, best, strict=True), start=1):
        model.load_state_dict(keep["state"])
        model.eval()
        with torch.no_grad():
            z, output = model(x)
        setattr(result, f"acc{modality}", (output.argmax(dim=1) == y_test).sum().item() / len(y_test))
        setattr(result, f"loss{modality}", F.cross_entropy(output, y_test).item())
        setattr(result, f"val_acc{modality}", keep["acc"])
        setattr(result, f"best_epoch{modality}", keep["epoch"])
        representations.append(z[:n_align].numpy())
    result.alignment, result.alignment_chance = metrics.pair_alignment(
        [representations[0]], [representations[1]], config.metric_layer, k=config.knn_k, seed=seed)
    return result


def seed_means(results) -> dict[float, tuple[float, float]]:
    """Per `lam`, the mean test accuracy of each encoder over the successful runs (seeds) at that lam."""
    by_lam: dict[float, list] = {}
    for result in results:
        if result.ok:
            by_lam.setdefault(result.lam, []).append((result.acc1, result.acc2))
    return {lam: tuple(float(v) for v in np.mean(pairs, axis=0)) for lam, pairs in by_lam.items()}


def peer_agreement(peer, package, floor_acc: float, n_test: int) -> dict:
    """Whether the peer's seed-mean accuracies match the package's within the rounding floor.

    `floor_acc` is the rounding floor's largest per-run accuracy difference (`compare_runs(...)["acc"]`);
    a seed mean moves less than its runs do, so the floor bounds what rounding alone does to seed means.
    Accuracy moves in steps of one test example, so the tolerance is at least `1 / n_test`. Keys: `acc` (the
    largest difference of seed-mean accuracies, either encoder, over the lams of both), `tolerance`, `agree`
    (also False when a lam has successful runs in one list and not the other).
    """
    mine, theirs = seed_means(peer), seed_means(package)
    tolerance = max(float(floor_acc), 1.0 / check_positive_int("n_test", n_test))
    if mine.keys() != theirs.keys():
        return {"acc": math.inf, "tolerance": tolerance, "agree": False}
    acc = max((abs(a - b) for lam in mine for a, b in zip(mine[lam], theirs[lam], strict=True)), default=0.0)
    return {"acc": acc, "tolerance": tolerance, "agree": acc <= tolerance}


def run_benchmark(num_runs: int = 24, redundancy: int = 4, num_epochs: int = 3, n_samples: int = 16384,
                  seed: int = 0, batch_size: int = 256, eval_max_samples: int = 1000,
                  threads: int = 1, rounding_floor: bool = True) -> dict:
    """Train the workload with fit_many, the idiomatic peer and single.fit; return times, rates, differences.

    Runs are `(BENCH_LAMS[i % 8], seed + i // 8)` for i < num_runs. Keys: `num_runs`, `threads`, for each
    trainer (`vectorized`, `peer`, `one_run`) `<trainer>_s` (CPU seconds), `<trainer>_wall_s` and
    `<trainer>_gflops`; `speedup` (one-run / vectorised time), `idiomatic` (peer / vectorised time), `peak`
    (the vectorised trainer's fraction of `peak_gflops`), `measure_s` (the alignment measurements of all runs,
    part of every trainer's time), `gflops`, `trainers` (`compare_runs(fit_many, single.fit)`), `peer_diffs`
    (`compare_runs(peer, fit_many)`), `floor` (`compare_runs(single.fit on nudged(dataset), single.fit)`),
    `peer_check` (`peer_agreement`; `floor` and `peer_check` are None without `rounding_floor`) and `agree`
    (fit_many and single.fit have the same statuses and first-epoch losses within FIRST_EPOCH_TOLERANCE, and
    the peer agrees: no bug). Every trainer runs with `threads` torch and BLAS threads (1 by default, as in a
    sweep's workers: with 2 threads on 2 cores single.fit gets slower and fit_many no faster here).
    """
    from alignbook.data.synthetic import make_dataset
    from alignbook.training.common import out_dim
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    num_runs = check_positive_int("num_runs", num_runs)
    redundancy = check_redundancy("redundancy", redundancy)
    threads = check_positive_int("threads", threads)
    dataset = make_dataset(redundancy, n_samples=check_positive_int("n_samples", n_samples), seed=seed)
    config = TrainConfig(num_epochs=check_positive_int("num_epochs", num_epochs),
                         batch_size=check_positive_int("batch_size", batch_size),
                         eval_max_samples=check_positive_int("eval_max_samples", eval_max_samples))
    lams = [BENCH_LAMS[i % len(BENCH_LAMS)] for i in range(num_runs)]
    seeds = [seed + i // len(BENCH_LAMS) for i in range(num_runs)]
    runs = list(zip(lams, seeds, strict=True))

    def one_by_one(data):
        return [fit(data, lam, run_seed, config, on_divergence="mark", threads=threads)
                for lam, run_seed in runs]

    with limited_threads(threads):  # every trainer under the same thread settings, restored afterwards
        # one untimed epoch of each trainer on a small dataset first: the first autograd pass and optimiser
        # step of a process load code and caches, which would be charged to whichever trainer came first
        small = make_dataset(redundancy, n_samples=min(n_samples, 1024), seed=seed)
        warm = config.replace(num_epochs=1)
        fit_many(small, lams[:2], seeds[:2], warm, threads=threads)
        peer_fit(small, lams[-1], seeds[0], warm)
        fit(small, lams[-1], seeds[0], warm, threads=threads)
        peak = _matmul_peak()
        vectorised, vectorised_s, vectorised_wall = _timed(fit_many, dataset, lams, seeds, config,
                                                          keep_representations=True, threads=threads)
        measure_s = _measurement_seconds(vectorised, config)
        peer, peer_s, peer_wall = _timed(lambda: [peer_fit(dataset, lam, run_seed, config)
                                                  for lam, run_seed in runs])
        one_run, one_run_s, one_run_wall = _timed(one_by_one, dataset)
        floor = compare_runs(one_by_one(nudged(dataset)), one_run) if rounding_floor else None
    in_dims = tuple(int(np.prod(shape)) for shape in dataset.input_shapes)
    flops = workload_flops(config, lams, len(dataset.train), len(dataset.valid), in_dims, out_dim(dataset))
    trainers = compare_runs(vectorised, one_run)
    peer_check = None if floor is None else peer_agreement(peer, vectorised, floor["acc"], len(dataset.test))
    result = {"dataset": dataset.name, "num_runs": num_runs, "num_epochs": num_epochs, "threads": threads,
              "n_train": len(dataset.train), "batch_size": batch_size, "measure_s": measure_s,
              "gflops": flops / 1e9, "peak_gflops": peak, "speedup": one_run_s / vectorised_s,
              "idiomatic": peer_s / vectorised_s, "peak": flops / vectorised_s / 1e9 / peak,
              "trainers": trainers, "peer_diffs": compare_runs(peer, vectorised), "floor": floor,
              "peer_check": peer_check, "failed": sum(not r.ok for r in vectorised),
              "agree": (trainers["same_status"] and trainers["first_epoch"] <= FIRST_EPOCH_TOLERANCE
                        and (peer_check is None or peer_check["agree"]))}
    for key, cpu, wall in (("vectorized", vectorised_s, vectorised_wall), ("peer", peer_s, peer_wall),
                           ("one_run", one_run_s, one_run_wall)):
        result.update({f"{key}_s": cpu, f"{key}_wall_s": wall, f"{key}_gflops": flops / cpu / 1e9})
    return result


def _differences_line(label: str, diffs: dict) -> str:
    return (f"{label}: max |acc diff| {diffs['acc']:.4f}, max |alignment diff| {diffs['alignment']:.4f} "
            f"(svcca {diffs['unstable']:.4f}), first-epoch losses {diffs['first_epoch']:.1e} relative; "
            f"{100 * diffs['within']:.0f}% of runs within {ACCURACY_TOLERANCE} / {ALIGNMENT_TOLERANCE}")


def main(argv: list[str] | None = None) -> int:
    """`alignbook bench [--quick] [--runs N] [--epochs E] [--samples N] ...`; exit 1 if results disagree."""
    parser = argparse.ArgumentParser(prog="alignbook bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long workload (for tests)")
    parser.add_argument("--runs", type=int, default=None, help="number of runs (default 24; quick 4)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3; quick 1)")
    parser.add_argument("--samples", type=int, default=None, help="dataset size (default 16384; quick 2048)")
    parser.add_argument("--batch-size", type=int, default=256, help="mini-batch size (default 256)")
    parser.add_argument("--redundancy", type=int, default=4, help="redundancy level 0..8 (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads of every trainer")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the rounding floor (single.fit on training inputs nudged by one ulp) "
                             "and with it the check of the idiomatic peer's results")
    args = parser.parse_args(argv)
    quick = args.quick
    options = {"num_runs": args.runs or (4 if quick else 24),
               "num_epochs": args.epochs or (1 if quick else 3),
               "n_samples": args.samples or (2048 if quick else 16384), "batch_size": args.batch_size,
               "redundancy": args.redundancy, "seed": args.seed,
               "eval_max_samples": 200 if quick else 1000, "threads": args.threads,
               "rounding_floor": not args.no_floor}
    try:
        result = run_benchmark(**options)
    except ValueError as exc:
        print(f"alignbook bench: {exc}", file=sys.stderr)
        return 2

    print(f"workload: {result['num_runs']} runs (lam in {list(BENCH_LAMS[:result['num_runs']])}, "
          f"seeds from {args.seed}) on {result['dataset']}, n_train {result['n_train']}, "
          f"batch {result['batch_size']}, {result['num_epochs']} epochs, {result['threads']} thread(s)")
    print(f"matmul peak (float32 2048^3): {result['peak_gflops']:.1f} GFLOP/s; "
          f"workload {result['gflops']:.1f} GFLOP of matrix products; times in CPU seconds (wall)")
    for name, key in (("vectorised (fit_many)", "vectorized"), ("one-run (single.fit)", "one_run"),
                      ("idiomatic (peer_fit)", "peer")):
        rate = result[f"{key}_gflops"]
        print(f"{name:22s} {result[f'{key}_s']:8.2f} s ({result[f'{key}_wall_s']:.2f})  {rate:7.2f} GFLOP/s  "
              f"({100 * rate / result['peak_gflops']:.1f}% of peak)")
    products_s = result["gflops"] / result["peak_gflops"]
    bound = result["one_run_s"] / (products_s + result["measure_s"])
    print(f"bound: the alignment measurements take {result['measure_s']:.2f} s in either trainer and the "
          f"matrix products at least {products_s:.2f} s at the measured peak: no trainer can be more than "
          f"{bound:.1f}x faster than single.fit on this workload here")
    trainers = _differences_line("fit_many vs single.fit", result["trainers"])
    print(f"{trainers}; failed runs {result['failed']}")
    print(_differences_line("idiomatic peer vs fit_many", result["peer_diffs"]))
    if result["floor"] is not None:
        print(_differences_line("rounding floor (single.fit, inputs nudged by 1 ulp)", result["floor"]))
        check = result["peer_check"]
        print(f"idiomatic peer's seed-mean accuracies vs fit_many's: max |diff| {check['acc']:.4f}, "
              f"tolerance {check['tolerance']:.4f} (rounding floor, at least one test example): "
              f"{'agree' if check['agree'] else 'DISAGREE'}")
    trainers_agree = (result["trainers"]["same_status"]
                      and result["trainers"]["first_epoch"] <= FIRST_EPOCH_TOLERANCE)
    failures = []
    if not trainers_agree:
        failures.append(f"FAILED: fit_many and single.fit disagree in run status or by more than "
                        f"{FIRST_EPOCH_TOLERANCE} in the first epoch's losses: a bug")
    if result["peer_check"] is not None and not result["peer_check"]["agree"]:
        failures.append("FAILED: the idiomatic peer's seed-mean accuracies differ from fit_many's by more "
                        "than the rounding floor: a bug in one of them")
    for message in failures:
        print(message, file=sys.stderr)
        print(message)
    print(f"idiomatic {result['idiomatic']:.2f}x")
    print(f"peak {100 * result['peak']:.1f}%")
    print(f"speedup {result['speedup']:.2f}x")
    return 0 if result["agree"] else 1

if __name__ == "__main__":
    raise SystemExit(main())
