"""The protocol file: every claim of the book, fixed before the runs that test it (`protocol.yaml`).

For each claim the file names its key (the short name tables and prose use), its wording and where it
comes from, the estimand, the claimed direction and its opposite, the test, the smallest effect of interest
(`margin`) and why, the level `alpha` and its correction, the family of cells one correction covers (per
chapter), and, for a claim about where an optimum lies, the range of `lam`. It also gives the seeds per
regime and the reasoning behind them. `load_protocol` reads the file and checks it; the claim functions of
`claims` take a claim's entry (`ClaimSpec`) so that what a verdict tests is what the file says.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

from alignbook.checks import fail

PROTOCOL_FILE = Path(__file__).with_name("protocol.yaml")
# Claimed directions: effects on accuracy of one cell (`protocol.optimal_lam`), alignment trends, a gain
# compared between two cells, correlations across cells, and the analysis chapter's predictions and checks
DIRECTIONS = ("rise", "fall", "interior", "no gain", "no loss", "flat", "alignment rise", "larger gain",
              "positive correlation", "smaller error", "coverage", "search loses")
CORRECTIONS = ("holm", "none")
CLAIM_FIELDS = ("key", "wording", "source", "chapters", "estimand", "direction", "opposite", "test",
                "margin", "family")


@dataclass(frozen=True)
class Margin:
    """A smallest effect size of interest: its value (in the estimand's units) and why."""

    value: float
    why: str


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of the protocol file (see the module docstring). `margin` is the value of the named margin,
    NaN for a claim without one (`margin_name` "none")."""

    key: str
    wording: str
    source: str
    chapters: tuple[str, ...]
    estimand: str
    direction: str
    opposite: str
    test: str
    margin_name: str
    margin: float
    alpha: float
    correction: str
    family: dict
    lam_range: tuple[float, float] | None = None
    note: str = ""


@dataclass(frozen=True)
class Protocol:
    """The protocol file, checked: defaults, margins by name, the seeds per regime and the claims by key."""

    version: int
    alpha: float
    correction: str
    ci: float
    power: float
    margins: dict[str, Margin]
    seeds: list[dict] = field(default_factory=list)
    claims: dict[str, ClaimSpec] = field(default_factory=dict)

    def claim(self, key: str) -> ClaimSpec:
        """The claim named `key`; a ValueError lists the known keys."""
        if key not in self.claims:
            fail("key", f"no claim {key!r} in the protocol file", f"known: {', '.join(self.claims)}")
        return self.claims[key]

    def for_chapter(self, chapter: str) -> list[ClaimSpec]:
        """The claims one chapter (e.g. "04_regime_map") tests, in the file's order."""
        return [spec for spec in self.claims.values() if chapter in spec.chapters]


def _level(where: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        fail("protocol", f"{where}: {name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _text(where: str, name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        fail("protocol", f"{where}: {name} must be a non-empty text, got {value!r}")
    return " ".join(value.split())


def parse_protocol(data) -> Protocol:
    """A `Protocol` from the parsed YAML `data`; every problem is a ValueError naming the entry and field."""
    if not isinstance(data, dict):
        fail("protocol", f"must be a mapping at the top level, got {type(data).__name__}")
    for name in ("version", "alpha", "correction", "ci", "power", "margins", "seeds", "claims"):
        if name not in data:
            fail("protocol", f"missing top-level field {name!r}")
    alpha = _level("top level", "alpha", data["alpha"])
    if data["correction"] not in CORRECTIONS:
        fail("protocol", f"correction must be one of {CORRECTIONS}, got {data['correction']!r}")
    margins = {}
    for name, entry in (data["margins"] or {}).items():
        if not isinstance(entry, dict) or "value" not in entry or "why" not in entry:
            fail("protocol", f"margin {name!r} needs a value and a why")
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            fail("protocol", f"margin {name!r}: value must be a number > 0, got {value!r}")
        margins[name] = Margin(float(value), _text(f"margin {name!r}", "why", entry["why"]))
    seeds = []
    for i, entry in enumerate(data["seeds"] or []):
        if not isinstance(entry, dict) or not {"regime", "seeds", "why"} <= set(entry):
            fail("protocol", f"seeds entry {i} needs a regime, seeds and a why")
        if isinstance(entry["seeds"], bool) or not isinstance(entry["seeds"], int) or entry["seeds"] < 3:
            fail("protocol", f"seeds entry {entry['regime']!r}: seeds must be an integer >= 3 (a cell with "
                             f"fewer is not testable), got {entry['seeds']!r}")
        seeds.append({**entry, "why": _text(f"seeds {entry['regime']!r}", "why", entry["why"])})
    claims: dict[str, ClaimSpec] = {}
    for i, entry in enumerate(data["claims"] or []):
        where = f"claim {entry.get('key', i)!r}" if isinstance(entry, dict) else f"claim {i}"
        if not isinstance(entry, dict):
            fail("protocol", f"{where} must be a mapping")
        missing = [f for f in CLAIM_FIELDS if f not in entry]
        if missing:
            fail("protocol", f"{where}: missing field(s) {', '.join(missing)}")
        key = entry["key"]
        if key in claims:
            fail("protocol", f"{where}: the key is used twice")
        if entry["direction"] not in DIRECTIONS:
            fail("protocol", f"{where}: direction must be one of {DIRECTIONS}, got {entry['direction']!r}")
        margin_name = entry["margin"]
        if margin_name != "none" and margin_name not in margins:
            fail("protocol", f"{where}: margin {margin_name!r} is not defined",
                 f"defined: {', '.join(margins)}, or none")
        chapters = entry["chapters"]
        family = entry["family"]
        if not isinstance(chapters, list) or not chapters or not isinstance(family, dict):
            fail("protocol", f"{where}: chapters must be a non-empty list and family a mapping by chapter")
        if set(family) != set(chapters):
            fail("protocol", f"{where}: family must describe the cells of every chapter in chapters",
                 f"chapters {chapters}, family {list(family)}")
        correction = entry.get("correction", data["correction"])
        if correction not in CORRECTIONS:
            fail("protocol", f"{where}: correction must be one of {CORRECTIONS}, got {correction!r}")
        lam_range = entry.get("lam_range")
        if lam_range is not None:
            numbers = isinstance(lam_range, list) and len(lam_range) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in lam_range)
            if not numbers or lam_range[0] > lam_range[1]:
                fail("protocol", f"{where}: lam_range must be [low, high] with low <= high, "
                                 f"got {lam_range!r}")
            lam_range = (float(lam_range[0]), float(lam_range[1]))
        claims[key] = ClaimSpec(
            key=_text(where, "key", key), wording=_text(where, "wording", entry["wording"]),
            source=_text(where, "source", entry["source"]), chapters=tuple(chapters),
            estimand=_text(where, "estimand", entry["estimand"]), direction=entry["direction"],
            opposite=_text(where, "opposite", entry["opposite"]), test=_text(where, "test", entry["test"]),
            margin_name=margin_name, margin=margins[margin_name].value if margin_name != "none" else math.nan,
            alpha=_level(where, "alpha", entry.get("alpha", alpha)), correction=correction,
            family={k: _text(where, f"family of {k}", v) for k, v in family.items()}, lam_range=lam_range,
            note=" ".join(str(entry.get("note", "")).split()))
    return Protocol(version=int(data["version"]), alpha=alpha, correction=data["correction"],
                    ci=_level("top level", "ci", data["ci"]),
                    power=_level("top level", "power", data["power"]), margins=margins, seeds=seeds,
                    claims=claims)


@functools.cache
def _read(path: str) -> Protocol:
    import yaml

    return parse_protocol(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def load_protocol(path=None) -> Protocol:
    """The protocol file shipped with the package (or the YAML file at `path`), parsed and checked."""
    path = Path(path) if path is not None else PROTOCOL_FILE
    if not path.is_file():
        fail("path", f"no protocol file at {path}")
    return _read(str(path.resolve()))
