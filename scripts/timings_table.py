"""Write the reproducibility page's table of notebook timings from the manifest the execute step records.

    python scripts/timings_table.py executed/manifest.json book/_generated/timings.md
    python scripts/timings_table.py executed/manifest.json book/reference_timings.md --reference
    python scripts/timings_table.py executed/manifest.json book/reference_timings_warm.md --reference --warm

The table is never typed by hand. When no notebook has been executed yet, the page says so; a notebook whose
last execution failed is left out. `--reference` writes the committed table of the build that produced the
published site (`make reference-timings`, run after `make book` from an empty run cache) and, beside it, the
same timings as JSON (`reference_timings.json`), from which `scripts/execute_notebooks.py` estimates the wait
of a build; with `--warm`, the table of re-executing every notebook right after that build, every run read
back from the cache, whose times are added to that JSON (`warm`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def executed(manifest: dict) -> dict:
    """The manifest's entries of notebooks whose last execution succeeded."""
    return {name: entry for name, entry in manifest.items() if "seconds" in entry}


def reference_json(manifest: dict) -> dict:
    """The timings `execute_notebooks.py` scales: each notebook's wall time, and the whole execution's wall
    time (first start to last end when notebooks ran side by side, else their sum) with its cores; and each
    notebook's number of runs, which a cold build announces it must train."""
    entries = executed(manifest)
    span = execution_span(entries)
    cores = {entry.get("machine", {}).get("cores") for entry in entries.values()}
    if len(cores) != 1 or None in cores:
        sys.exit("the reference timings need every notebook executed on one machine, with its cores recorded")
    wall = span[2] if span else sum(entry["seconds"] for entry in entries.values())
    return {"notebooks": {name: entry["seconds"] for name, entry in sorted(entries.items())},
            "wall_seconds": round(wall, 1), "cores": cores.pop(), "jobs": span[0] if span else 1,
            "runs": {name: entry["runs"] for name, entry in sorted(entries.items()) if "runs" in entry}}


def render(manifest: dict) -> str:
    manifest = executed(manifest)
    if not manifest:
        return "Not yet measured: no notebook has been executed on this machine.\n"
    lines = [
        "| Notebook | Profile | Wall time (s) | Executed | Machine |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for name in sorted(manifest):
        entry = manifest[name]
        box = entry.get("machine", {})
        where = f"{box.get('cores', '?')} cores, {box.get('cpu', '?')}, Python {box.get('python', '?')}"
        lines.append(
            f"| `{name}` | {entry['profile']} | {entry['seconds']:.1f} | {entry['finished']} | {where} |"
        )
    total = sum(entry["seconds"] for entry in manifest.values())
    span = execution_span(manifest)
    if span is None:
        lines += ["", f"Total: {total:.1f} s of wall time, measured when each notebook was last executed."]
    else:
        jobs, count, seconds = span
        lines += ["", f"The last execution ran {count} notebooks, up to {jobs} at a time: {seconds:.1f} s of "
                      "wall time from its first start to its last end. Each notebook's time above includes "
                      f"the time it shared the processors with another; their sum is {total:.1f} s."]
    return "\n".join(lines) + "\n"


def execution_span(manifest: dict) -> tuple[int, int, float] | None:
    """(jobs, notebooks, wall seconds from first start to last end) of the latest execution when it ran
    several notebooks side by side (`--jobs` above 1): what a reader waits. None otherwise."""
    latest = max((entry.get("batch", "") for entry in manifest.values()), default="")
    entries = [entry for entry in manifest.values() if latest and entry.get("batch") == latest]
    if len(entries) < 2 or entries[0].get("jobs", 1) == 1:
        return None
    return (entries[0]["jobs"], len(entries),
            max(e["ended"] for e in entries) - min(e["started"] for e in entries))


REFERENCE_HEADER = ("Measured on the build that produced the published site: `make book` from an empty run "
                    "cache, with the environment already installed.\n\n")
WARM_HEADER = ("Measured right after that build by executing every notebook again "
               "(`scripts/execute_notebooks.py --force`), the sweeps' runs read back from the run cache.\n\n")


def main(argv: list[str]) -> int:
    reference, warm = "--reference" in argv, "--warm" in argv
    argv = [arg for arg in argv if arg not in ("--reference", "--warm")]
    if len(argv) != 2:
        sys.exit(__doc__)
    source, target = Path(argv[0]), Path(argv[1])
    manifest = json.loads(source.read_text()) if source.is_file() else {}
    if reference and not manifest:
        sys.exit(f"{source}: no executed notebooks to take reference timings from; run `make book` first")
    header = (WARM_HEADER if warm else REFERENCE_HEADER) if reference else ""
    write_if_changed(target, header + render(manifest))
    if reference and not warm:
        write_if_changed(target.with_suffix(".json"), json.dumps(reference_json(manifest), indent=1) + "\n")
    if reference and warm:  # beside the cold timings, from which a build with cached runs is estimated
        cold = target.with_name(target.stem.removesuffix("_warm") + ".json")
        timings = {**json.loads(cold.read_text()), "warm": {name: entry["seconds"] for name, entry
                                                            in sorted(executed(manifest).items())}}
        write_if_changed(cold, json.dumps(timings, indent=1) + "\n")
    return 0


def write_if_changed(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text() != text:  # unchanged file: no rebuild of the page
        target.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
