"""Benchmark: the vectorised trainer (`vectorized.fit_many`) against the one-run trainer (`single.fit`).

`python -m alignbook bench` trains one fixed synthetic workload (24 runs by default: 8 values of `lam`, 0
included, times 3 seeds, at one redundancy level) both ways in the same process and under the same thread
settings, compares their results, and prints wall times, achieved GFLOP/s (matrix products counted
analytically, the same count for both trainers) against a float32 matmul peak measured in the same run, and
last `speedup <ratio>x`. The default workload (n_samples 16384, 3 epochs, batch 256: the sweep's setting)
takes under a minute on 2 cores; `--quick` is a seconds-long smoke version for tests.

How results are compared. Both trainers start from the same weights and see the same batches, so they
compute the same function up to float rounding (the test suite checks equality to 1e-6 where training
does not amplify rounding). On the synthetic data training does amplify it (ReLU units and checkpoint
choices near a tie are decided by rounding), so the benchmark also trains the workload with single.fit on
training inputs moved by one float32 ulp (`nudged`): the rounding floor, measured in the same run and
reported next to the trainers' differences. A bug (wrong gradient, batch or initialisation) shows in the first
epoch's mean losses at the percent level and in run status; those decide the exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from alignbook.checks import check_positive_int, check_redundancy
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
    """Best GFLOP/s of a float32 size x size matmul on this machine, now (threads as set)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def workload_flops(config, lams, n_train: int, n_valid: int, in_dims: tuple[int, int], out_dim: int) -> float:
    """Matrix-product FLOPs of training `lams` runs (both trainers do these products).

    Per step and branch: forward `2 B sum(in * out)` over the encoder and head, backward twice that; with the
    alignment term also the projection head (same rule) and the InfoNCE: `2 B^2 p` for the logits and
    `4 B^2 p` for the two gradient products. Per epoch: a validation forward of each branch. The exp over
    the B x B logits and elementwise work are not counted.
    """
    from alignbook.models.alignment import lam_schedule

    batch = min(config.batch_size, n_train)
    steps = max(n_train // config.batch_size, 1)
    hidden = [config.width] * config.depth
    body = [sum(a * b for a, b in zip([d, *hidden, config.repr_dim], [*hidden, config.repr_dim, out_dim],
                                      strict=True)) for d in in_dims]
    projection = config.repr_dim * config.proj_dim + config.proj_dim**2
    total = 0.0
    for epoch in range(config.num_epochs):
        for lam in lams:
            per_step = 3 * 2 * batch * sum(body)
            if lam_schedule(lam, config.lam_schedule, config.schedule_epochs, epoch) > 0:
                per_step += 3 * 2 * batch * 2 * projection + 6 * batch * batch * config.proj_dim
            total += steps * per_step + 2 * n_valid * sum(body)
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
    """Wall time of the alignment measurements of `results` (kept representations), which both trainers
    make identically after training (`metrics.pair_alignment` on the test representations)."""
    from alignbook import metrics

    started = time.perf_counter()
    for result in results:
        if result.ok:
            metrics.pair_alignment([result.z1], [result.z2], config.metric_layer, k=config.knn_k,
                                   seed=result.seed)
    return time.perf_counter() - started


def run_benchmark(num_runs: int = 24, redundancy: int = 4, num_epochs: int = 3, n_samples: int = 16384,
                  seed: int = 0, batch_size: int = 256, eval_max_samples: int = 1000,
                  threads: int = 1, rounding_floor: bool = True) -> dict:
    """Train the workload with fit_many and with single.fit; return times, GFLOP/s, differences, speedup.

    Runs are `(BENCH_LAMS[i % 8], seed + i // 8)` for i < num_runs. Keys: `num_runs`, `threads`,
    `vectorized_s`, `one_run_s`, `speedup` (one-run / vectorised wall time), `measure_s` (the alignment
    measurements of all runs, part of both trainers' times), `gflops`, `vectorized_gflops`,
    `one_run_gflops`, `peak_gflops`, `trainers` (`compare_runs(fit_many, single.fit)`), `floor`
    (`compare_runs(single.fit on nudged(dataset), single.fit)`, None without `rounding_floor`) and `agree`
    (same statuses and first-epoch losses within FIRST_EPOCH_TOLERANCE: no bug).
    Both trainers run with `threads` torch and BLAS threads (1 by default, as in a sweep's workers: with 2
    threads on 2 cores single.fit gets slower and fit_many no faster on this workload).
    """
    from alignbook.config import TrainConfig
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

    def one_by_one(data):
        return [fit(data, lam, run_seed, config, on_divergence="mark")
                for lam, run_seed in zip(lams, seeds, strict=True)]

    with limited_threads(threads):  # both trainers under the same thread settings, restored afterwards
        peak = _matmul_peak()
        started = time.perf_counter()
        vectorised = fit_many(dataset, lams, seeds, config, keep_representations=True)
        vectorised_s = time.perf_counter() - started
        measure_s = _measurement_seconds(vectorised, config)
        started = time.perf_counter()
        one_run = one_by_one(dataset)
        one_run_s = time.perf_counter() - started
        floor = compare_runs(one_by_one(nudged(dataset)), one_run) if rounding_floor else None
    in_dims = tuple(int(np.prod(shape)) for shape in dataset.input_shapes)
    flops = workload_flops(config, lams, len(dataset.train), len(dataset.valid), in_dims, out_dim(dataset))
    trainers = compare_runs(vectorised, one_run)
    return {"dataset": dataset.name, "num_runs": num_runs, "num_epochs": num_epochs, "threads": threads,
            "n_train": len(dataset.train), "batch_size": batch_size, "vectorized_s": vectorised_s,
            "one_run_s": one_run_s, "speedup": one_run_s / vectorised_s, "measure_s": measure_s,
            "gflops": flops / 1e9,
            "peak_gflops": peak, "vectorized_gflops": flops / vectorised_s / 1e9,
            "one_run_gflops": flops / one_run_s / 1e9, "trainers": trainers, "floor": floor,
            "agree": trainers["same_status"] and trainers["first_epoch"] <= FIRST_EPOCH_TOLERANCE,
            "failed": sum(not r.ok for r in vectorised)}


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
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads of both trainers")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the rounding floor (single.fit on training inputs nudged by one ulp)")
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
          f"workload {result['gflops']:.1f} GFLOP of matrix products")
    for name, key in (("vectorised (fit_many)", "vectorized"), ("one-run (single.fit)", "one_run")):
        rate = result[f"{key}_gflops"]
        print(f"{name:22s} {result[f'{key}_s']:8.2f} s  {rate:7.2f} GFLOP/s  "
              f"({100 * rate / result['peak_gflops']:.1f}% of peak)")
    products_s = result["gflops"] / result["peak_gflops"]
    bound = result["one_run_s"] / (products_s + result["measure_s"])
    print(f"bound: the alignment measurements take {result['measure_s']:.2f} s in either trainer and the "
          f"matrix products at least {products_s:.2f} s at the measured peak: no trainer can be more than "
          f"{bound:.1f}x faster than single.fit on this workload here")
    trainers = _differences_line("fit_many vs single.fit", result["trainers"])
    print(f"{trainers}; failed runs {result['failed']}")
    if result["floor"] is not None:
        print(_differences_line("rounding floor (single.fit, inputs nudged by 1 ulp)", result["floor"]))
    if not result["agree"]:
        message = (f"FAILED: fit_many and single.fit disagree in run status or by more than "
                   f"{FIRST_EPOCH_TOLERANCE} in the first epoch's losses: a bug")
        print(message, file=sys.stderr)
        print(message)
    print(f"speedup {result['speedup']:.2f}x")
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
