"""Command line: `python -m alignbook sweep SPEC.yaml`, `python -m alignbook advise DATA --out DIR`,
`python -m alignbook bench ...`, `--version`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

FAILED = 1  # exit code of a sweep that could not run: Ray missing, a cluster unreachable or lost, a full disk
USAGE_ERROR = 2  # exit code of a malformed spec or bad arguments (as argparse uses)
INTERRUPTED = 130


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    import alignbook

    parser = argparse.ArgumentParser(prog="alignbook", description=alignbook.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"alignbook {alignbook.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sweep = commands.add_parser("sweep", help="train (or load from cache) every run of a sweep spec",
                                description="Train every run of a sweep spec not yet cached and write the "
                                            "tidy results table to $ALIGNBOOK_RESULTS/<name>.csv.")
    sweep.add_argument("spec", help="sweep spec YAML file (see configs/)")
    sweep.add_argument("--workers", type=_workers, default="auto",
                       help="worker processes, or 'auto' (default: one per core when groups allow)")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="where groups train: this machine's processes (default) or a Ray cluster")
    sweep.add_argument("--address", metavar="HOST:PORT",
                       help="with --backend ray: the Ray head to join, or 'auto' (default: start a local "
                            "instance with this machine's cores)")
    sweep.add_argument("--force", action="store_true", help="retrain and overwrite cached runs")
    sweep.add_argument("--cache", metavar="DIR", help="cache folder (default: $ALIGNBOOK_CACHE)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar and no log lines")
    commands.add_parser("bench", help="benchmark the trainers (options: alignbook bench --help)",
                        add_help=False)
    _advise_parser(commands)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _advise_parser(commands) -> None:
    advise = commands.add_parser(
        "advise", help="should I align? the answer per encoder for your own paired data",
        description="Train each encoder of your pairs with and without alignment (a lam sweep over seeds), "
                    "decide per encoder whether alignment helps, hurts or makes no detectable difference, "
                    "and write DIR/report.html (answer first) and DIR/advice.json.")
    advise.add_argument("data", nargs="+",
                        help="an .npz file with arrays x1, x2, y (optional: split, groups); or three .npy "
                             "files x1 x2 y; or module:function returning a PairedDataset; or "
                             "mfeat:VIEW,VIEW")
    advise.add_argument("--out", required=True, metavar="DIR", help="folder for report.html and advice.json")
    advise.add_argument("--budget", type=_positive, metavar="N",  # imported lazily: keep --version fast
                        help="most training runs, seeds x lams x label budgets (default: "
                             "alignbook.advise.DEFAULT_BUDGET, 60)")
    advise.add_argument("--labels", type=_positive, metavar="N",
                        help="your label budget: labelled training examples (default: the whole training "
                             "part)")
    advise.add_argument("--workers", type=_workers, default="auto",
                        help="worker processes, or 'auto' (default: one per core)")
    advise.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where runs train: this machine's processes (default) or a Ray cluster")
    advise.add_argument("--address", metavar="HOST:PORT", help="with --backend ray: the Ray head to join")
    advise.add_argument("--cache", metavar="DIR",
                        help="run cache (default: $ALIGNBOOK_CACHE, else DIR/cache)")
    advise.add_argument("--book-results", metavar="DIR",
                        help="a book build's results folder (synthetic_sweep.csv), for the predicted lam*")
    advise.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 Ray backend unavailable, cluster lost or
    disk full, 2 bad spec or arguments, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":  # the benchmark parses its own options
        from alignbook.training.bench import main as bench_main

        return int(bench_main(argv[1:]) or 0)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    return _advise(args) if args.command == "advise" else _sweep(args)


def _sweep(args: argparse.Namespace) -> int:
    from alignbook.storage.files import DiskFullError
    from alignbook.sweep import SweepSpec, run_sweep

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        spec = SweepSpec.from_yaml(args.spec)
    except ValueError as exc:
        print(f"alignbook sweep: invalid spec {args.spec}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        result = run_sweep(spec, cache_dir=args.cache, workers=args.workers, progress=not args.quiet,
                           force=args.force, backend=args.backend, address=args.address)
    except ValueError as exc:  # checks made before training: dataset parameters, cache and results folders
        print(f"alignbook sweep: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (ImportError, ConnectionError, DiskFullError) as exc:  # Ray missing or lost; a disk filled up
        print(f"alignbook sweep: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("alignbook sweep: interrupted; finished runs are cached, run the same command to resume",
              file=sys.stderr)
        return INTERRUPTED
    failed = int((result.table["status"] != "ok").sum() // 2)
    print(f"{result.spec.name}: {len(result.runs)} runs ({result.n_cached} from cache, {result.n_computed} "
          f"trained, {failed} failed) -> {result.path}")
    return 0


def _advise(args: argparse.Namespace) -> int:
    from alignbook.advise import DEFAULT_BUDGET, advise
    from alignbook.storage.files import DiskFullError

    out = Path(args.out)
    # the sweep's results table goes beside the report unless the environment names a results folder
    os.environ.setdefault("ALIGNBOOK_RESULTS", str(out / "runs"))
    cache = args.cache or os.environ.get("ALIGNBOOK_CACHE") or out / "cache"
    source = args.data[0] if len(args.data) == 1 else args.data
    try:
        advise(source, out, budget=args.budget or DEFAULT_BUDGET, labels=args.labels, workers=args.workers,
               backend=args.backend, address=args.address, cache_dir=cache, progress=not args.quiet,
               book_results=args.book_results)
    except ValueError as exc:  # bad data or arguments: one line naming the array or option
        print(f"alignbook advise: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (ImportError, ConnectionError, DiskFullError) as exc:
        print(f"alignbook advise: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("alignbook advise: interrupted; finished runs are cached, run the same command to resume",
              file=sys.stderr)
        return INTERRUPTED
    return 0
