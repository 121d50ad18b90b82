"""Command line: `python -m alignbook sweep SPEC.yaml`, `python -m alignbook bench ...`, `--version`."""

from __future__ import annotations

import argparse
import logging
import sys

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
    return parser


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
    return _sweep(args)


def _sweep(args: argparse.Namespace) -> int:
    from alignbook.sweep import SweepSpec, run_sweep
    from alignbook.storage.files import DiskFullError

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
