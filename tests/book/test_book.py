"""The book: paired notebooks, papermill runs, determinism (nbval), a strict build, and the site in a browser.

Tests marked `book` execute notebooks, build the site and drive a headless browser; `make test` runs them
after the package tests. The others only read the committed files and take well under a second.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from conftest import (
    NOTEBOOKS,
    ROOT,
    kernel_name,
    notebook_sources,
    run,
    smoke_parameters,
    tool,
)

SOURCES = notebook_sources()
IDS = [path.stem for path in SOURCES]

# Text nbval must not compare between two executions: memory addresses, wall-clock durations, progress bars.
SANITIZE = r"""
[memory-address]
regex: 0x[0-9a-fA-F]{6,}
replace: 0xADDRESS

[duration]
regex: \b\d+(\.\d+)?\s?(s|ms|sec|seconds|min|minutes)\b
replace: DURATION

[progress-rate]
regex: \d+(\.\d+)?\s?(it/s|s/it)
replace: RATE
"""


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


# ---------------------------------------------------------------------------------------------------------
# The committed sources: cheap checks, no kernel.


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/*.ipynb found"


def test_every_notebook_is_a_named_pair():
    markdown = {path.stem for path in NOTEBOOKS.glob("*.md")}
    ipynb = {path.stem for path in SOURCES}
    assert markdown == ipynb, (
        f"unpaired notebooks: .md without .ipynb {sorted(markdown - ipynb)}, "
        f".ipynb without .md {sorted(ipynb - markdown)} (run `make sync`)"
    )
    for stem in ipynb:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", stem), f"{stem}: notebook names are NN_lowercase_name"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_pair_has_the_same_content(source):
    import jupytext
    from jupytext.compare import compare_notebooks

    paired = source.with_suffix(".md")
    try:
        compare_notebooks(jupytext.read(paired), jupytext.read(source), fmt="md:myst")
    except Exception as exc:  # jupytext names the first differing cell
        pytest.fail(f"{paired.name} and {source.name} differ (run `make sync`): {exc}")


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_committed_notebook_has_no_outputs(source):
    for index, cell in enumerate(code_cells(read(source))):
        assert not cell.outputs, f"{source.name}: code cell {index} has outputs (clear them)"
        assert cell.execution_count is None, f"{source.name}: code cell {index} has an execution count"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_parameters_cell(source):
    import papermill

    cells = code_cells(read(source))
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [0], f"{source.name}: exactly one code cell must be tagged parameters, the first one"
    tree = ast.parse(cells[0].source)
    names = []
    for statement in tree.body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1, (
            f"{source.name}: the parameters cell holds only `name = literal` lines"
        )
        target = statement.targets[0]
        assert isinstance(target, ast.Name) and target.id.isascii(), f"{source.name}: ASCII parameter names"
        ast.literal_eval(statement.value)  # raises on anything that is not a literal
        names.append(target.id)
    seen = set(papermill.inspect_notebook(str(source)))
    assert seen == set(names), (
        f"{source.name}: papermill cannot read parameters {sorted(set(names) - seen)}; "
        "one assignment per line, and no '=' inside its comment"
    )


def test_smoke_configuration_names_real_parameters():
    import papermill

    by_stem = {path.stem: path for path in SOURCES}
    for stem, parameters in smoke_parameters().items():
        assert stem in by_stem, f"configs/smoke.yaml: no notebook named {stem}"
        known = set(papermill.inspect_notebook(str(by_stem[stem])))
        unknown = set(parameters) - known
        assert not unknown, f"configs/smoke.yaml: {stem} has no parameters {sorted(unknown)}"


def test_the_analysis_chapter_reads_the_regime_map_that_chapter_04_runs():
    # chapter 06 re-creates chapter 04's sweeps from its own parameters: equal values (defaults and smoke
    # profile) make it read chapter 04's cached runs instead of training a second map
    import papermill

    def values(stem: str, overrides: dict) -> dict:
        found = papermill.inspect_notebook(str(NOTEBOOKS / f"{stem}.ipynb"))
        return {name: ast.literal_eval(p["default"]) for name, p in found.items()} | overrides

    same = {"map_redundancies": "redundancies", "map_depths": "depths", "map_lams": "lams",
            "map_seeds_per_size": "seeds_per_size", "n_trains": "n_trains", "map_n_samples": "n_samples",
            "map_batch_size": "batch_size", "map_step_scale": "step_scale"}
    for profile in ({}, smoke_parameters()):
        analysis = values("06_analysis", profile.get("06_analysis", {}))
        regime = values("04_regime_map", profile.get("04_regime_map", {}))
        differ = {name: (analysis[name], regime[other]) for name, other in same.items()
                  if analysis[name] != regime[other]}
        which = "smoke profile" if profile else "defaults"
        assert not differ, f"06_analysis and 04_regime_map disagree ({which}): {differ}"


def test_citation_file_and_how_to_cite_agree_with_the_book():
    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["message"] and citation["authors"]
    assert citation["title"] == config["title"]
    intro = (ROOT / "book" / "intro.md").read_text()
    assert "## How to cite" in intro
    block = intro.split("## How to cite", 1)[1].split("```bibtex", 1)[1].split("```", 1)[0]
    assert f"title  = {{{config['title']}}}" in block
    bib = (ROOT / "book" / "references.bib").read_text()
    paper = bib[bib.index("@misc{fang2025align"):]
    paper = paper[: paper.index("\n}\n") + 2]
    assert paper in block, "the paper's BibTeX in the intro differs from book/references.bib"
    assert citation["references"][0]["title"] in paper


def test_intro_states_the_answer_with_numbers_pasted_from_the_chapters():
    # myst-nb's cross-document glue is `{glue:text}`path::key:fmt``; without `:fmt` the role would read
    # `path:` as the key and `key` as the format, so every paste needs one
    intro = (ROOT / "book" / "intro.md").read_text()
    first = intro.split("\n\n")[1]  # the paragraph after the title
    pastes = re.findall(r"\{glue:text\}`([^`]*)`", first)
    assert pastes, "the intro's first paragraph pastes no computed number"
    stems = {path.stem for path in SOURCES}
    for paste in pastes:
        match = re.fullmatch(r"\.\./executed/(\w+)\.ipynb::(\w+):([^:`]+)", paste)
        assert match, f"the intro's paste {paste!r} is not ../executed/NN_name.ipynb::key:format"
        assert match.group(1) in stems, f"the intro pastes from {match.group(1)}, which is no chapter"
    without = re.sub(r"\{[\w:]+\}`[^`]*`", "", first)
    assert not re.search(r"\d+\.\d+", without), "the intro's first paragraph types a decimal number"


def test_notebook_code_fits_the_page_and_hides_its_bookkeeping():
    """Code lines of at most 80 characters; cells that only glue values are removed from the page; nbval
    instructions are cell tags, not comments the reader would see."""
    import jupytext

    problems = []
    for source in SOURCES:
        for index, cell in enumerate(jupytext.read(source.with_suffix(".md")).cells):
            if cell.cell_type != "code":
                continue
            where = f"{source.stem}, code cell {index}"
            problems += [f"{where}: {len(line)} characters: {line[:60]}..."
                         for line in cell.source.splitlines() if len(line) > 80]
            if "NBVAL" in cell.source:
                problems.append(f"{where}: use the tag nbval-ignore-output, not a comment")
            statements = ast.parse(cell.source).body
            glues = [s for s in statements if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                     and getattr(s.value.func, "id", "") in ("glue", "glue_all")]
            if glues and "remove-cell" not in cell.metadata.get("tags", []):
                problems.append(f"{where}: glues values but is shown (tag it remove-cell)")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------
# Runs, builds and the browser: minutes.


@pytest.mark.book
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_smoke_run_succeeds(smoke_executed, source):
    executed = read(smoke_executed / source.name)
    errors = [o for cell in code_cells(executed) for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{source.name}: {errors[0].ename}: {errors[0].evalue}" if errors else ""
    manifest = json.loads((smoke_executed / "manifest.json").read_text())
    assert manifest[source.stem]["parameters"] == smoke_parameters().get(source.stem, {})


@pytest.mark.book
def test_reexecution_reproduces_text_outputs(smoke_executed, tmp_path, isolated_env):
    """nbval re-executes the executed notebooks, with an empty cache, and compares every text output.

    Figures are not compared: nbval skips PNG images, and the SVG copies the book draws are left out of
    the reference (re-execution draws PNG in a kernel started with its defaults).
    """
    import nbformat

    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text(SANITIZE)
    env = dict(isolated_env, ALIGNBOOK_CACHE=str(tmp_path / "cache"))
    env["ALIGNBOOK_RESULTS"] = str(tmp_path / "results")
    reference = tmp_path / "reference"
    reference.mkdir()
    for path in smoke_executed.glob("*.ipynb"):
        notebook = read(path)
        for cell in code_cells(notebook):
            for output in cell.outputs:
                output.get("data", {}).pop("image/svg+xml", None)
        nbformat.write(notebook, reference / path.name)
    notebooks = sorted(str(path) for path in reference.glob("*.ipynb"))
    result = run(
        [sys.executable, "-m", "pytest", "--nbval", f"--nbval-sanitize-with={sanitize}",
         f"--nbval-kernel-name={kernel_name()}", "-p", "no:cacheprovider", "-q", f"--rootdir={tmp_path}",
         *notebooks],
        cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, f"re-execution changed outputs:\n{result.stdout[-8000:]}\n{result.stderr}"


# A nonsensical value per house parameter name; each notebook is tried with the first one it declares.
BAD_VALUES = {"lam": -1, "redundancy": 11, "lams": [0.0, -1.0], "redundancies": [0, 9]}


@pytest.mark.book
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_bad_parameter_fails_in_the_first_cell(source, tmp_path, isolated_env, monkeypatch):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    declared = papermill.inspect_notebook(str(source))
    name, bad = next(((n, v) for n, v in BAD_VALUES.items() if n in declared), (None, None))
    if name is None:
        pytest.skip(f"{source.name} has none of the parameters {sorted(BAD_VALUES)}")
    for key in ("ALIGNBOOK_CACHE", "ALIGNBOOK_RESULTS"):
        monkeypatch.setenv(key, isolated_env[key])
    parameters = {**smoke_parameters().get(source.stem, {}), name: bad}
    output = tmp_path / source.name
    with pytest.raises(PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, kernel_name=kernel_name(),
            cwd=str(source.parent), progress_bar=False,
        )
    assert failure.value.ename == "ValueError"
    assert failure.value.evalue.startswith(f"{name}:"), f"{name} not named: {failure.value.evalue}"
    cells = read(output).cells
    injected = next(i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", []))
    first = next(i for i in range(injected + 1, len(cells)) if cells[i].cell_type == "code")
    failed = [i for i, c in enumerate(cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == [first], (
        f"{source.name}: {name} = {bad} should fail in the first cell after the parameters (cell {first}), "
        f"not in cell {failed}"
    )


def reproducibility_commands() -> list[list[str]]:
    """The papermill commands book/reproducibility.md prints, split as a shell splits them."""
    text = (ROOT / "book" / "reproducibility.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if "papermill" in line]


def test_the_reproducibility_page_prints_papermill_commands():
    commands = reproducibility_commands()
    assert len(commands) >= 3 and all(c[0].endswith("papermill") and c[2] == "out.ipynb" for c in commands)
    assert any(value.startswith("[") for c in commands for value in c[3:]), "a list parameter is shown"


@pytest.mark.book
@pytest.mark.parametrize("command", reproducibility_commands(), ids=lambda c: " ".join(c[1:]))
def test_the_commands_of_the_reproducibility_page_run_as_printed(command, tmp_path, isolated_env):
    """Each command runs with its arguments as printed, on top of the notebook's smoke parameters (a `-p`
    given later wins); one that names a placeholder path stops in the first cell, naming that parameter."""
    import yaml

    stem = Path(command[1]).stem
    output = tmp_path / "out.ipynb"
    smoke = yaml.safe_dump(smoke_parameters().get(stem, {}), default_flow_style=True)
    result = run([tool("papermill"), command[1], str(output), "-k", kernel_name(), "--cwd", "notebooks",
                  "-y", smoke, *command[3:]], cwd=ROOT, env=isolated_env)
    placeholder = next((command[i - 1] for i, value in enumerate(command) if "/path/to/" in value), None)
    if placeholder is None:
        assert result.returncode == 0, result.stderr[-4000:]
    else:
        assert result.returncode != 0
        errors = [o for c in read(output).cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].evalue.startswith(f"{placeholder}:"), errors


@pytest.mark.book
def test_strict_build_has_every_page(smoke_site):
    pages = {path.relative_to(smoke_site).as_posix() for path in smoke_site.rglob("*.html")}
    for source in SOURCES:
        assert f"executed/{source.stem}.html" in pages
    for page in ("intro", "method", "reproducibility", "cluster", "references"):
        assert f"book/{page}.html" in pages
    log = (smoke_site.parent.parent / "build.log").read_text()
    assert "WARNING" not in log, log[-4000:]


def site_pages(html: Path) -> list[Path]:
    return sorted(path for path in html.rglob("*.html") if "_static" not in path.parts)


def chapter_pages(html: Path) -> list[Path]:
    """The site's page of each notebook chapter, in the book's order."""
    return [html / "executed" / f"{source.stem}.html" for source in SOURCES]


@pytest.mark.book
def test_site_loads_nothing_from_the_network(smoke_site):
    from bs4 import BeautifulSoup

    external = re.compile(r"^(https?:)?//", re.IGNORECASE)
    problems = []
    for page in site_pages(smoke_site):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
            for element in soup.find_all(tag):
                value = element.get(attribute) or ""
                rel = " ".join(element.get("rel", [])) if tag == "link" else ""
                if external.match(value) and rel not in {"canonical", "author", "license"}:
                    problems.append(f"{page.relative_to(smoke_site)}: <{tag} {attribute}={value}>")
    assert not problems, "pages load from the network:\n" + "\n".join(problems)


def _book_pdf_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_pdf", ROOT / "scripts" / "book_pdf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the PDF script's wait: images decoded and MathJax done, so the tests see what the PDF prints
WAIT_FOR_PAGE = _book_pdf_script().WAIT_FOR_PAGE

INSPECT_PAGE = """
const clone = document.body.cloneNode(true);
const hidden = "script, style, pre, code, textarea, mjx-container, .highlight";
clone.querySelectorAll(hidden).forEach((e) => e.remove());
const maths = [...document.querySelectorAll(".math")];
return {
  title: document.title,
  text: clone.textContent,
  brokenImages: [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src),
  maths: maths.length,
  unrendered: maths.filter((m) => !m.querySelector("mjx-container")).map((m) => m.textContent.slice(0, 80)),
  containers: document.querySelectorAll("mjx-container").length,
  requests: performance.getEntriesByType("resource").map((e) => e.name),
};
"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$")


@pytest.mark.book
def test_every_page_renders_offline_in_a_browser(smoke_site, browser):
    problems = []
    for page in site_pages(smoke_site):
        name = page.relative_to(smoke_site).as_posix()
        browser.get(page.as_uri())
        status = browser.execute_async_script(WAIT_FOR_PAGE)
        if status != "ok":
            problems.append(f"{name}: {status}")
            continue
        seen = browser.execute_script(INSPECT_PAGE)
        if not seen["title"]:
            problems.append(f"{name}: no title")
        problems += [f"{name}: image did not load: {src}" for src in seen["brokenImages"]]
        problems += [f"{name}: math not rendered: {tex}" for tex in seen["unrendered"]]
        if seen["maths"] and not seen["containers"]:
            problems.append(f"{name}: MathJax produced no output")
        raw = RAW_TEX.search(seen["text"])
        if raw:
            context = seen["text"][max(0, raw.start() - 40) : raw.end() + 40]
            problems.append(f"{name}: raw TeX visible: {context!r}")
        offsite = [url for url in seen["requests"] if not url.startswith(("file:", "data:"))]
        problems += [f"{name}: requested {url}" for url in offsite]
    assert not problems, "\n".join(problems)


@pytest.mark.book
def test_screenshots_for_a_person_to_inspect(smoke_site, browser):
    """Saved to _build/screenshots/: the method page (equations) and every notebook page (figures, glue)."""
    folder = ROOT / "_build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    pages = [smoke_site / "book" / "method.html"]
    pages += [smoke_site / "executed" / f"{source.stem}.html" for source in SOURCES]
    for page in pages:
        browser.get(page.as_uri())
        assert browser.execute_async_script(WAIT_FOR_PAGE) == "ok"
        width = browser.execute_script("return document.documentElement.scrollWidth")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(max(width, 1280), min(max(height, 800), 8000))
        target = folder / f"{page.stem}.png"
        assert browser.save_screenshot(str(target)), f"could not save {target}"
        assert target.stat().st_size > 10_000
    browser.set_window_size(1280, 1000)


# ---------------------------------------------------------------------------------------------------------
# What a reader sees: the results at a glance, figures, columns, the PDF, dark mode.


def build_module(name: str):
    """A module of the book's build (`book/_ext`), imported as the book's configuration loads it."""
    import importlib

    if str(ROOT / "book" / "_ext") not in sys.path:
        sys.path.insert(0, str(ROOT / "book" / "_ext"))
    return importlib.import_module(name)


def recorded_claims(executed: Path) -> dict[str, list[str]]:
    """The claims each executed chapter emitted, read from its outputs (not from the collection)."""
    from alignbook.chapters.publish import CLAIMS

    records = build_module("collection").records

    return {path.stem: [row["claim"] for record in records(read(path), CLAIMS) for row in record]
            for path in sorted(executed.glob("*.ipynb"))}


def chapter_titles(executed: Path) -> dict[str, str]:
    notebook_title = build_module("collection").notebook_title

    return {path.stem: notebook_title(read(path)) for path in sorted(executed.glob("*.ipynb"))}


def open_page(browser, page: Path) -> None:
    browser.set_window_size(1280, 1000)
    browser.get(page.as_uri())
    assert browser.execute_async_script(WAIT_FOR_PAGE) == "ok", page


SCOREBOARD = """
const anchor = document.getElementById("sec-results-at-a-glance");
if (!anchor) { return null; }
const section = anchor.closest("section");
const rows = [...section.querySelectorAll("table tbody tr")];
return {
  claims: rows.map((row) => row.cells[0].textContent.trim()),
  links: rows.map((row) => row.cells[row.cells.length - 1].querySelectorAll("a[href*='#']").length),
  chapters: [...section.querySelectorAll("p > strong > a")].map((a) => a.getAttribute("href")),
  tableTop: section.querySelector("table").getBoundingClientRect().top,
  headline: [...section.querySelectorAll("figure img")].map((img) => img.src),
  pdf: [...document.querySelectorAll("a")].filter((a) => a.href.endsWith("alignbook.pdf")).map((a) => a.href),
};
"""


@pytest.mark.book
def test_intro_opens_on_the_scoreboard_of_every_recorded_claim(smoke_executed, smoke_site, browser):
    recorded = recorded_claims(smoke_executed)
    assert sum(map(len, recorded.values())) >= 3, f"chapters recorded too few claims: {recorded}"
    open_page(browser, smoke_site / "book" / "intro.html")
    board = browser.execute_script(SCOREBOARD)
    assert board is not None, "the intro has no 'Results at a glance' section"
    expected = [claim for claims in recorded.values() for claim in claims]
    shown = [claim.replace("\u2019", "'") for claim in board["claims"]]  # Sphinx's typographic apostrophes
    assert shown == expected, "the scoreboard's rows are not the claims the chapters recorded"
    assert all(count == 1 for count in board["links"]), "every row links the figure or table deciding it"
    assert board["chapters"] == [f"../executed/{stem}.html" for stem, claims in recorded.items() if claims]
    assert board["tableTop"] < 1000, "the scoreboard starts below the first screen"
    assert len(board["headline"]) == 1 and board["headline"][0].endswith(".svg")
    assert board["pdf"], "the intro does not link the PDF"
    assert Path(board["pdf"][0].removeprefix("file://")) == smoke_site / "alignbook.pdf"


FIGURES = """
const images = [...document.querySelectorAll("article img")];
return images.map((img) => ({src: img.src, loaded: img.complete && img.naturalWidth > 0}));
"""


@pytest.mark.book
def test_every_figure_is_an_svg_that_loads(smoke_site, browser):
    problems = []
    for page in chapter_pages(smoke_site):
        open_page(browser, page)
        figures = browser.execute_script(FIGURES)
        if not figures:
            problems.append(f"{page.name}: no figure")
        problems += [f"{page.name}: not SVG: {f['src']}" for f in figures if not f["src"].endswith(".svg")]
        problems += [f"{page.name}: did not load: {f['src']}" for f in figures if not f["loaded"]]
    assert not problems, "\n".join(problems)


# Elements that scroll sideways, or stick out of the column they sit in (the cell, or the article)
OVERFLOW = """
const article = document.querySelector("article.bd-article");
const problems = [];
for (const el of article.querySelectorAll("pre, table")) {
  const column = el.closest("div.cell, div.full-width") || article;
  const what = `${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 60)}"`;
  for (let node = el; node && node !== column.parentElement; node = node.parentElement) {
    if (node.scrollWidth > node.clientWidth + 1 && getComputedStyle(node).overflowX !== "visible") {
      problems.push(`${what} scrolls sideways (${node.scrollWidth} > ${node.clientWidth} px)`);
      break;
    }
  }
  const right = el.getBoundingClientRect().right, limit = column.getBoundingClientRect().right;
  if (right > limit + 1) { problems.push(`${what} sticks out of its column by ${right - limit} px`); }
}
return problems;
"""


@pytest.mark.book
def test_no_table_or_code_overflows_its_column_at_1280_px(smoke_site, browser):
    problems = []
    for page in site_pages(smoke_site):
        if page.parent.name not in ("book", "executed"):
            continue
        open_page(browser, page)
        width = browser.execute_script("return window.innerWidth")
        assert width >= 1200, f"window is {width} px wide"
        problems += [f"{page.name}: {p}" for p in browser.execute_script(OVERFLOW)]
    assert not problems, "\n".join(problems)


READER_VIEW = """
const cells = [...document.querySelectorAll("div.cell")];
return {
  inputs: cells.map((c) => (c.querySelector("div.cell_input") || {}).textContent || ""),
  outputs: [...document.querySelectorAll("div.cell_output pre")].map((p) => p.textContent),
};
"""
PROGRESS_LINE = re.compile(r"\d+%\|")


@pytest.mark.book
def test_chapters_show_narrative_calls_and_results_only(smoke_site, browser):
    """No glue-only or bookkeeping cell, no nbval comment, at most one line of each progress bar."""
    problems = []
    for page in chapter_pages(smoke_site):
        open_page(browser, page)
        seen = browser.execute_script(READER_VIEW)
        for text in seen["inputs"]:
            if re.search(r"^\s*glue(_all)?\(", text, re.MULTILINE):
                problems.append(f"{page.name}: a cell that glues values is shown: {text.strip()[:80]!r}")
            if "NBVAL" in text or "check_parameters(" in text:
                problems.append(f"{page.name}: bookkeeping is shown: {text.strip()[:80]!r}")
        for text in seen["outputs"]:
            if len(PROGRESS_LINE.findall(text)) > 1:
                problems.append(f"{page.name}: a progress bar prints several lines: {text[:160]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.book
def test_every_chapter_offers_its_results_as_csv(smoke_site, browser):
    problems = []
    for page in chapter_pages(smoke_site):
        open_page(browser, page)
        links = browser.execute_script(
            "return [...document.querySelectorAll('a.download')].map((a) => a.href)"
            ".filter((href) => href.endsWith('.csv'))")
        if not links:
            problems.append(f"{page.name}: no CSV to download")
        for href in links:
            target = Path(href.removeprefix("file://"))
            if not target.is_file() or not target.read_text().strip():
                problems.append(f"{page.name}: {href} is missing or empty")
    assert not problems, "\n".join(problems)


@pytest.mark.book
def test_pdf_has_every_chapter(smoke_pdf, smoke_executed):
    from pypdf import PdfReader

    assert smoke_pdf.is_file(), "make book writes _build/html/alignbook.pdf"
    reader = PdfReader(smoke_pdf)
    titles = chapter_titles(smoke_executed)
    # the prose pages are the toc's root and its `file:` entries (intro, method, reproducibility, ...)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    prose = 1 + sum("file" in entry for entry in toc["chapters"])
    assert len(reader.pages) >= len(titles) + prose  # every chapter and prose page
    outline = [item for item in reader.outline if not isinstance(item, list)]
    assert len(outline) == len(titles) + prose, outline
    # each site page starts on the page its outline entry points to: its title is in that page's text
    starts = [reader.get_destination_page_number(item) for item in outline]
    assert starts == sorted(set(starts)), "site pages overlap in the PDF"
    text = "".join(reader.pages[number].extract_text() for number in starts)
    text = re.sub(r"\s+", "", text.replace("\u2019", "'"))  # Sphinx's typographic apostrophes
    missing = [t for t in titles.values() if re.sub(r"\s+|`", "", t) not in text]
    assert not missing, f"chapter titles missing from the PDF's text: {missing}"


def luminance(image) -> float:
    from PIL import ImageStat

    return sum(ImageStat.Stat(image.convert("L")).mean) / 255


@pytest.mark.book
def test_dark_mode_keeps_figures_readable(smoke_site, browser):
    """Screenshots of the intro and a chapter in each theme mode, kept for a person to look at; in dark
    mode the page turns dark and the figures keep a light background with dark ink."""
    import io

    from PIL import Image

    folder = ROOT / "_build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    chapter = SOURCES[min(2, len(SOURCES) - 1)].stem
    for page in (smoke_site / "book" / "intro.html", smoke_site / "executed" / f"{chapter}.html"):
        open_page(browser, page)
        for mode in ("light", "dark"):
            for _ in range(3):  # the theme's button cycles light, dark and automatic
                if browser.execute_script("return document.documentElement.dataset.theme") == mode:
                    break
                browser.execute_script("document.querySelector('.theme-switch-button').click()")
            assert browser.execute_script("return document.documentElement.dataset.theme") == mode
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(max(height, 800), 8000))
            assert browser.save_screenshot(str(folder / f"{page.stem}-{mode}.png"))
            shot = Image.open(folder / f"{page.stem}-{mode}.png")
            background = luminance(shot.crop((0, 0, 40, 40)))
            assert (background < 0.3) if mode == "dark" else (background > 0.7), f"{page.name}: {mode} page"
            figure = browser.find_element("css selector", "article figure img")
            ink = Image.open(io.BytesIO(figure.screenshot_as_png)).convert("L")
            assert luminance(ink) > 0.7, f"{page.name}, {mode} mode: the figure's background is not light"
            assert ink.getextrema()[0] < 80, f"{page.name}, {mode} mode: the figure has no dark ink"
            browser.set_window_size(1280, 1000)
