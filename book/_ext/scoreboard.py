"""The intro's results at a glance: the scoreboard of every claim the chapters recorded, and the headline
figure, rendered from the collection of the executed notebooks (`collection.py`, beside this module).

It is a Sphinx extension (`_config.yml`: `sphinx.local_extensions`, which puts this folder on the path):
when a build starts, it checks
the collection against the executed notebooks and writes `book/_generated/scoreboard.md`, which the intro
includes, and the headline figure beside it. A missing or stale collection stops the build with a message
that says what to run; nothing is ever shown from an older execution.

The intro's first paragraph pastes numbers glued in the executed notebooks directly (myst-nb's
cross-document glue, `{glue:text}`../executed/NN_name.ipynb::key:fmt``): myst-nb fills such a paste when it
writes the page, and Sphinx rewrites the intro, the parent of every chapter in the table of contents,
whenever a chapter changed, so the pasted numbers are never older than the chapters.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from collection import HEADLINE_FILE, load_collection

from alignbook.chapters.publish import VERDICTS

# How sure we are of a claim's wording (the tags of the claim tables)
SOURCES = {
    "[A]": "the paper's abstract or Figure 1 (primary)",
    "[S]": "secondary summaries of the paper, not checked against its body",
    "ours": "a question this book adds",
}
GENERATED = "book/_generated"
OUTPUT = "scoreboard.md"


def _verdict_text(record: dict) -> str:
    text = f"**{record['verdict']}**"
    if record.get("cases"):
        agree, cases = record["cases"]
        text += f" ({agree} of {cases} cases)"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _link(label: str) -> str:
    """A link to the figure (numbered) or section that decides a claim."""
    return f"{{numref}}`{label}`" if label.startswith("fig-") else f"{{ref}}`{label}`"


def chapter_table(claims: list[dict]) -> list[str]:
    """The Markdown lines of one chapter's table: claim, wording, verdict, the verdict per regime (when
    the chapter has regimes), and the link to what decides it."""
    regimes = list(dict.fromkeys(regime for record in claims for regime in record["regimes"]))
    header = ["Claim", "Wording", "Our verdict", *regimes, "Decided by"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for record in claims:
        cells = [record["claim"], record["source"], _verdict_text(record),
                 *(record["regimes"].get(regime, "–") for regime in regimes), _link(record["decided_by"])]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def render(collection: dict, executed: str = "../executed", figure: str | None = None) -> str:
    """The MyST text of the results at a glance: a count of verdicts, then per chapter that recorded
    claims, a link to it and a table with one row per claim, the key to the wording tags, and the headline
    figure when `figure` (its path as the including page sees it) is given.

    `executed` is the path from the including page to the executed notebooks.
    """
    recorded = [(stem, entry) for stem, entry in collection["chapters"].items() if entry["claims"]]
    claims = [record for _, entry in recorded for record in entry["claims"]]
    if not claims:
        raise ValueError("no chapter recorded a claim: the scoreboard would be empty")
    counts = Counter(record["verdict"] for record in claims)
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
    lines = [f"Of the {len(claims)} claims this book tests: {tally}."]
    for stem, entry in recorded:
        lines += ["", f"**{{doc}}`{executed}/{stem}`**", "", *chapter_table(entry["claims"])]
    tags = sorted({tag for record in claims for tag in _source_tags(record["source"])})
    key = "; ".join(f"{tag}: {SOURCES[tag]}" for tag in tags if tag in SOURCES)
    if key:
        lines += ["", f"Wording: {key}."]
    headline = collection.get("headline")
    if figure and headline:
        lines += ["", f"```{{figure}} {figure}", ":name: fig-headline", "",
                  f"{headline['caption']} From {{doc}}`{executed}/{headline['chapter']}`, "
                  f"{{numref}}`{headline['name']}`.", "```"]
    return "\n".join(lines) + "\n"


def _source_tags(source: str) -> list[str]:
    """'[A, S] limitation' -> ['[A]', '[S]']; 'ours' -> ['ours']."""
    if source.startswith("["):
        inside = source[1:source.index("]")]
        return [f"[{part.strip()}]" for part in inside.split(",")]
    return [source.split()[0]]


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def generate(srcdir, executed: str = "executed") -> Path:
    """Check the collection in `srcdir/executed` and write the scoreboard (and headline figure) into
    `srcdir/book/_generated`. Returns the scoreboard's path; raises ValueError when the collection is
    missing or stale."""
    srcdir = Path(srcdir)
    collection = load_collection(srcdir / executed)
    out = srcdir / GENERATED
    figure = None
    if collection.get("headline"):
        source = srcdir / executed / HEADLINE_FILE
        out.mkdir(parents=True, exist_ok=True)
        if not (out / HEADLINE_FILE).is_file() or \
                (out / HEADLINE_FILE).read_bytes() != source.read_bytes():
            shutil.copyfile(source, out / HEADLINE_FILE)
        figure = f"_generated/{HEADLINE_FILE}"
    path = out / OUTPUT
    _write_if_changed(path, render(collection, executed=f"../{executed}", figure=figure))
    return path


def setup(app):
    """Sphinx entry point: generate the scoreboard when the builder starts, or stop the build."""
    from sphinx.errors import ExtensionError

    app.add_config_value("alignbook_executed", "executed", "env")

    def on_builder_inited(app):
        try:
            generate(app.srcdir, app.config.alignbook_executed)
        except ValueError as exc:
            raise ExtensionError(f"scoreboard: {exc}") from None

    app.connect("builder-inited", on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
