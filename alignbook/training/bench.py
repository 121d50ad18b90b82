"""Benchmark: the vectorised trainer against the one-run trainer, PyTorch's model ensembling and an idiomatic
PyTorch loop.

`python -m alignbook bench` trains one fixed synthetic workload (24 runs by default: 8 values of `lam`, 0
included, times 3 seeds, at one redundancy level) four ways in the same process and under the same thread
settings (`vectorized.fit_many`, `ensemble.ensemble_fit_many`, `single.fit`, `peer.peer_fit`), compares
their results, and prints times, milliseconds per run-step (one optimiser step of one run) and achieved
GFLOP/s (matrix products counted analytically, the same count for every trainer) against a float32 matmul
peak measured in the same run, then `ensemble <ratio>x` (the torch.func ensemble's time over fit_many's),
`idiomatic <ratio>x` (the peer's time over fit_many's), `peak <percent>%` (fit_many's achieved fraction of
the peak) and last `speedup <ratio>x` (single.fit's time over fit_many's). The default workload (n_samples
16384, 3 epochs, batch 256: the sweep's setting) takes about three minutes of CPU time; `--quick` is a
seconds-long smoke version for tests.

Times are CPU seconds of this process (wall seconds are printed next to them): with one thread (the
default) they equal wall time on an idle machine, and on a shared one they leave out the time the process
waited for a core, which would otherwise change every ratio with the neighbours' load. With more threads
they add the threads' times up, so ratios then compare work, not latency.

How results are compared. All trainers start from the same weights and see the same batches, so they
compute the same function up to float rounding (the test suite checks equality to 1e-6 where training
does not amplify rounding). On the synthetic data training does amplify it (ReLU units and checkpoint
choices near a tie are decided by rounding), so the benchmark also trains the workload with single.fit on
training inputs moved by one float32 ulp (`nudged`): the rounding floor, measured in the same run and
reported next to the trainers' differences. A bug (wrong gradient, batch or initialisation) shows in the first
epoch's mean losses at the percent level and in run status; those decide the exit status, with the peer's
check: its seed-mean accuracies must match fit_many's within the rounding floor (`peer_agreement`).

Levers measured and not taken for `vectorized.fit_many` (torch 2.13, the default workload, one thread):

- PyTorch's own model ensembling, `torch.func.stack_module_state` + `vmap` over `grad_and_value` of a
  `functional_call` loss, clipping per run and one AdamW over the stacked parameters
  (`ensemble.ensemble_fit_many`): 6.6 to 8.3 ms per run-step against 0.9 to 1.0 ms for fit_many, 7x to 8x
  slower (single.fit: 6.0 ms), so the hand-written step stays (a 2-core AMD EPYC with AVX-512, one process).
  Its time goes to the textbook InfoNCE's B x B softmaxes, cross-entropies and their backward (vmap has
  no rule for the fused one-run InfoNCE) and to the copies vmap makes to move batch dimensions.
- The step's matrix products alone, with nothing else, reach about 38 % of the float32 matmul peak (MKL's
  batched products of these small shapes; a 2-core AVX2 machine without AVX-512), so no fusion of the
  elementwise work can bring the trainer much past that.
- `torch.compile` (gcc, fixed shapes) made the InfoNCE kernel about 2x slower (it recomputes the exp in
  each of three loops) and its GEMM templates were slower than MKL; compiling one kernel took as much CPU
  time as the whole workload.
- bfloat16 products have no hardware support on AVX2 machines (2x to 30x slower) and move first-epoch
  losses about 20x more than a one-ulp change of the inputs does.
- Smaller InfoNCE chunks (1 to 8 runs instead of 16) were no faster.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time

import numpy as np
import torch

from alignbook.checks import check_positive_int, check_redundancy
from alignbook.config import TrainConfig
from alignbook.training.peer import peer_fit
from alignbook.training.threads import limited_threads

BENCH_LAMS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
# The per-run tolerance of test accuracy; reported, with the rounding floor measured next to it.
ACCURACY_TOLERANCE = 0.002
# Rounding moves first-epoch mean losses by up to ~4e-3 (relative) on this workload: chaos sets in within
# the epoch (see the module docstring). Real bugs move them by far more; this is the failure threshold.
FIRST_EPOCH_TOLERANCE = 2e-2
# The trainers, in the order they are timed and printed: (result key, label).
TRAINERS = (("vectorized", "vectorised (fit_many)"), ("ensemble", "torch.func ensemble"),
            ("one_run", "one-run (single.fit)"), ("peer", "idiomatic (peer_fit)"))


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
    """Matrix-product FLOPs of training `lams` runs for their whole budget (every trainer does them).

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

    Keys: `acc` (test accuracy, either encoder), `first_epoch` (relative difference of the first checkpoint's
    mean losses), `within` (fraction of runs whose accuracies are within ACCURACY_TOLERANCE), `same_status`.
    """
    acc, first, within, compared = 0.0, 0.0, 0, 0
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
        acc = max(acc, run_acc)
        within += run_acc <= ACCURACY_TOLERANCE
    return {"acc": acc, "first_epoch": first, "within": within / compared if compared else float("nan"),
            "same_status": same_status}


def nudged(dataset):
    """`dataset` with every training input moved up by one float32 ulp: a rounding-sized change of data."""
    from alignbook.data.container import PairedSplit

    def up(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return np.where(x != 0, np.nextafter(x, np.float32(np.inf)), x)  # zeros stay (no denormals)

    train = dataset.train
    return dataclasses.replace(dataset, train=PairedSplit(up(train.x1), up(train.x2), train.y))


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
                  seed: int = 0, batch_size: int = 256, threads: int = 1,
                  rounding_floor: bool = True) -> dict:
    """Train the workload with every trainer of `TRAINERS`; return times, rates and differences.

    Runs are `(BENCH_LAMS[i % 8], seed + i // 8)` for i < num_runs. Keys: `num_runs`, `threads`,
    `run_steps` (optimiser steps of all runs), for each trainer of `TRAINERS` `<trainer>_s` (CPU seconds),
    `<trainer>_wall_s`, `<trainer>_ms_per_run_step` and `<trainer>_gflops`; `speedup` (one-run / vectorised
    time), `ensemble` (ensemble / vectorised time), `idiomatic` (peer / vectorised time), `peak` (the
    vectorised trainer's fraction of `peak_gflops`), `gflops`, `trainers` (`compare_runs(fit_many,
    single.fit)`), `ensemble_diffs` (`compare_runs(ensemble, fit_many)`), `peer_diffs` (`compare_runs(peer,
    fit_many)`), `floor` (`compare_runs(single.fit on nudged(dataset), single.fit)`), `peer_check`
    (`peer_agreement`; `floor` and `peer_check` are None without `rounding_floor`) and `agree` (fit_many,
    the ensemble and single.fit have the same statuses and first-epoch losses within
    FIRST_EPOCH_TOLERANCE, and the peer agrees: no bug). Every trainer runs with `threads` torch and BLAS
    threads (1 by default, as in a sweep's workers: with 2 threads on 2 cores single.fit gets slower and
    fit_many no faster here).
    """
    from alignbook.data.synthetic import make_dataset
    from alignbook.training.common import out_dim
    from alignbook.training.ensemble import ensemble_fit_many
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    num_runs = check_positive_int("num_runs", num_runs)
    redundancy = check_redundancy("redundancy", redundancy)
    threads = check_positive_int("threads", threads)
    dataset = make_dataset(redundancy, n_samples=check_positive_int("n_samples", n_samples), seed=seed)
    config = TrainConfig(num_epochs=check_positive_int("num_epochs", num_epochs),
                         batch_size=check_positive_int("batch_size", batch_size))
    lams = [BENCH_LAMS[i % len(BENCH_LAMS)] for i in range(num_runs)]
    seeds = [seed + i // len(BENCH_LAMS) for i in range(num_runs)]
    runs = list(zip(lams, seeds, strict=True))

    def one_by_one(data):
        return [fit(data, lam, run_seed, config, on_divergence="mark", threads=threads)
                for lam, run_seed in runs]

    timed = {}
    with limited_threads(threads):  # every trainer under the same thread settings, restored afterwards
        # one untimed epoch of each trainer on a small dataset first: the first autograd pass and optimiser
        # step of a process load code and caches, which would be charged to whichever trainer came first
        small = make_dataset(redundancy, n_samples=min(n_samples, 1024), seed=seed)
        warm = config.replace(num_epochs=1)
        fit_many(small, lams[:2], seeds[:2], warm, threads=threads)
        ensemble_fit_many(small, lams[:2], seeds[:2], warm)
        peer_fit(small, lams[-1], seeds[0], warm)
        fit(small, lams[-1], seeds[0], warm, threads=threads)
        peak = _matmul_peak()
        timed["vectorized"] = _timed(fit_many, dataset, lams, seeds, config, threads=threads)
        timed["ensemble"] = _timed(ensemble_fit_many, dataset, lams, seeds, config)
        timed["one_run"] = _timed(one_by_one, dataset)
        timed["peer"] = _timed(lambda: [peer_fit(dataset, lam, run_seed, config) for lam, run_seed in runs])
        floor = compare_runs(one_by_one(nudged(dataset)), timed["one_run"][0]) if rounding_floor else None
    in_dims = tuple(int(np.prod(shape)) for shape in dataset.input_shapes)
    flops = workload_flops(config, lams, len(dataset.train), len(dataset.valid), in_dims, out_dim(dataset))
    vectorised, vectorised_s = timed["vectorized"][:2]
    run_steps = sum(result.steps for result in timed["one_run"][0])
    trainers = compare_runs(vectorised, timed["one_run"][0])
    ensemble = compare_runs(timed["ensemble"][0], vectorised)
    peer_check = (None if floor is None
                  else peer_agreement(timed["peer"][0], vectorised, floor["acc"], len(dataset.test)))
    result = {"dataset": dataset.name, "num_runs": num_runs, "num_epochs": num_epochs, "threads": threads,
              "n_train": len(dataset.train), "batch_size": batch_size, "run_steps": run_steps,
              "gflops": flops / 1e9, "peak_gflops": peak, "speedup": timed["one_run"][1] / vectorised_s,
              "ensemble": timed["ensemble"][1] / vectorised_s, "idiomatic": timed["peer"][1] / vectorised_s,
              "peak": flops / vectorised_s / 1e9 / peak, "trainers": trainers, "ensemble_diffs": ensemble,
              "peer_diffs": compare_runs(timed["peer"][0], vectorised), "floor": floor,
              "peer_check": peer_check, "failed": sum(not r.ok for r in vectorised),
              "agree": (all(d["same_status"] and d["first_epoch"] <= FIRST_EPOCH_TOLERANCE
                            for d in (trainers, ensemble))
                        and (peer_check is None or peer_check["agree"]))}
    for key, (_, cpu, wall) in timed.items():
        result.update({f"{key}_s": cpu, f"{key}_wall_s": wall, f"{key}_gflops": flops / cpu / 1e9,
                       f"{key}_ms_per_run_step": 1e3 * cpu / run_steps})
    return result


def _differences_line(label: str, diffs: dict) -> str:
    return (f"{label}: max |acc diff| {diffs['acc']:.4f}, first-epoch losses {diffs['first_epoch']:.1e} "
            f"relative; {100 * diffs['within']:.0f}% of runs within {ACCURACY_TOLERANCE}")


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
               "redundancy": args.redundancy, "seed": args.seed, "threads": args.threads,
               "rounding_floor": not args.no_floor}
    try:
        result = run_benchmark(**options)
    except ValueError as exc:
        print(f"alignbook bench: {exc}", file=sys.stderr)
        return 2

    print(f"workload: {result['num_runs']} runs (lam in {list(BENCH_LAMS[:result['num_runs']])}, "
          f"seeds from {args.seed}) on {result['dataset']}, n_train {result['n_train']}, "
          f"batch {result['batch_size']}, {result['num_epochs']} epochs ({result['run_steps']} run-steps), "
          f"{result['threads']} thread(s)")
    print(f"matmul peak (float32 2048^3): {result['peak_gflops']:.1f} GFLOP/s; "
          f"workload {result['gflops']:.1f} GFLOP of matrix products; times in CPU seconds (wall)")
    for key, name in TRAINERS:
        rate = result[f"{key}_gflops"]
        print(f"{name:22s} {result[f'{key}_s']:8.2f} s ({result[f'{key}_wall_s']:.2f})  "
              f"{result[f'{key}_ms_per_run_step']:6.3f} ms per run-step  {rate:7.2f} GFLOP/s  "
              f"({100 * rate / result['peak_gflops']:.1f}% of peak)")
    products_s = result["gflops"] / result["peak_gflops"]
    print(f"bound: the matrix products take at least {products_s:.2f} s at the measured peak: no trainer can "
          f"be more than {result['one_run_s'] / products_s:.1f}x faster than single.fit on this workload")
    trainers = _differences_line("fit_many vs single.fit", result["trainers"])
    print(f"{trainers}; failed runs {result['failed']}")
    print(_differences_line("torch.func ensemble vs fit_many", result["ensemble_diffs"]))
    print(_differences_line("idiomatic peer vs fit_many", result["peer_diffs"]))
    if result["floor"] is not None:
        print(_differences_line("rounding floor (single.fit, inputs nudged by 1 ulp)", result["floor"]))
        check = result["peer_check"]
        print(f"idiomatic peer's seed-mean accuracies vs fit_many's: max |diff| {check['acc']:.4f}, "
              f"tolerance {check['tolerance']:.4f} (rounding floor, at least one test example): "
              f"{'agree' if check['agree'] else 'DISAGREE'}")
    failures = []
    for label, key in (("single.fit", "trainers"), ("the torch.func ensemble", "ensemble_diffs")):
        diffs = result[key]
        if not (diffs["same_status"] and diffs["first_epoch"] <= FIRST_EPOCH_TOLERANCE):
            failures.append(f"FAILED: fit_many and {label} disagree in run status or by more than "
                            f"{FIRST_EPOCH_TOLERANCE} in the first epoch's losses: a bug")
    if result["peer_check"] is not None and not result["peer_check"]["agree"]:
        failures.append("FAILED: the idiomatic peer's seed-mean accuracies differ from fit_many's by more "
                        "than the rounding floor: a bug in one of them")
    for message in failures:
        print(message, file=sys.stderr)
        print(message)
    print(f"ensemble {result['ensemble']:.2f}x")
    print(f"idiomatic {result['idiomatic']:.2f}x")
    print(f"peak {100 * result['peak']:.1f}%")
    print(f"speedup {result['speedup']:.2f}x")
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
