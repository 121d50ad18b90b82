"""The book: paired notebooks, papermill runs, determinism (nbval), a strict build, and the site in a browser.

Tests marked `book` execute notebooks, build the site and drive a headless browser; `make test` runs them
after the package tests. The others only read the committed files and take well under a second.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
from conftest import (
    NOTEBOOKS,
    ROOT,
    kernel_name,
    notebook_sources,
    run,
    smoke_parameters,
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
    """nbval re-executes the executed notebooks, with an empty cache, and compares every text output."""
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text(SANITIZE)
    env = dict(isolated_env, ALIGNBOOK_CACHE=str(tmp_path / "cache"))
    env["ALIGNBOOK_RESULTS"] = str(tmp_path / "results")
    notebooks = sorted(str(path) for path in smoke_executed.glob("*.ipynb"))
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


@pytest.mark.book
def test_strict_build_has_every_page(smoke_site):
    pages = {path.relative_to(smoke_site).as_posix() for path in smoke_site.rglob("*.html")}
    for source in SOURCES:
        assert f"executed/{source.stem}.html" in pages
    for page in ("intro", "method", "reproducibility", "references"):
        assert f"book/{page}.html" in pages
    log = (smoke_site.parent.parent / "build.log").read_text()
    assert "WARNING" not in log, log[-4000:]


def site_pages(html: Path) -> list[Path]:
    return sorted(path for path in html.rglob("*.html") if "_static" not in path.parts)


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


WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
(async () => {
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  const maths = document.querySelectorAll(".math");
  if (maths.length) {
    for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!(window.MathJax && MathJax.startup)) { return "MathJax did not load"; }
    await MathJax.startup.promise;
  }
  return "ok";
})().then(done, (error) => done(String(error)));
"""

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
