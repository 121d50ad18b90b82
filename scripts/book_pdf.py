"""Print the built site to one PDF with headless Chromium: every page in reading order, offline.

    python scripts/book_pdf.py _build/html                 # writes _build/html/alignbook.pdf
    python scripts/book_pdf.py _build/html --out book.pdf

The pages are the HTML that `jupyter-book build` made from the executed notebooks, so the PDF holds the
same figures, tables and equations as the site. Starting at the root page of `_toc.yml`, each page is
opened, MathJax and the images are awaited, the page is printed with Chromium's print-to-PDF (through
Selenium and the Debian chromedriver), and the next page is the one its `rel="next"` link names. The
pages are joined with pypdf, each with an outline entry; links to other pages of the local site are
dropped, since they would point at files on the machine that built it.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PDF_NAME = "alignbook.pdf"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage")

# Resolves once every image is decoded and MathJax has typeset the page (if it has any maths).
WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
(async () => {
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  if (document.querySelector(".math")) {
    for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!(window.MathJax && MathJax.startup)) { return "MathJax did not load"; }
    await MathJax.startup.promise;
  }
  return "ok";
})().then(done, (error) => done(String(error)));
"""


def start_browser():
    """Headless Debian Chromium through its own chromedriver (Selenium never fetches a driver here)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        sys.exit("chromium and chromedriver are missing: `make browser` installs the Debian packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def root_page(html: Path, toc: Path) -> Path:
    root = yaml.safe_load(toc.read_text())["root"]
    page = html / f"{root}.html"
    if not page.is_file():
        sys.exit(f"{page} does not exist: build the site first (`make book`)")
    return page


def print_pages(driver, first: Path) -> list[tuple[str, bytes]]:
    """(title, PDF bytes) of every page from `first` along the `rel="next"` links."""
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.background = True
    pages, page, seen = [], first, set()
    while page is not None and page not in seen:
        seen.add(page)
        driver.get(page.as_uri())
        status = driver.execute_async_script(WAIT_FOR_PAGE)
        if status != "ok":
            sys.exit(f"{page}: {status}")
        title = driver.execute_script("return document.querySelector('h1')?.textContent || document.title")
        pages.append((title.replace("#", "").strip(), base64.b64decode(driver.print_page(options))))
        following = driver.execute_script("return document.querySelector('link[rel=next]')?.href || null")
        local = following is not None and following.startswith("file:")
        page = Path(following.removeprefix("file://")) if local else None
    return pages


def _drop_local_links(writer) -> None:
    from pypdf.generic import NameObject

    for page in writer.pages:
        annotations = page.get("/Annots")
        if annotations is None:
            continue
        kept = []
        for ref in annotations:
            action = ref.get_object().get("/A", {})
            if not str(action.get("/URI", "")).startswith("file:"):
                kept.append(ref)
        page[NameObject("/Annots")] = type(annotations)(kept)


def join(pages: list[tuple[str, bytes]], out: Path, title: str) -> int:
    """Join the printed pages into `out` with one outline entry per page; returns the page count."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for name, data in pages:
        writer.append(PdfReader(io.BytesIO(data)), outline_item=name)
    _drop_local_links(writer)
    writer.add_metadata({"/Title": title})
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        writer.write(handle)
    tmp.replace(out)  # a reader never sees half a file
    return len(writer.pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--out", type=Path, default=None, help=f"default: <html>/{PDF_NAME}")
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml", help="the table of contents")
    parser.add_argument("--config", type=Path, default=ROOT / "_config.yml", help="for the book's title")
    args = parser.parse_args(argv)
    html = args.html.resolve()
    out = (args.out or html / PDF_NAME).resolve()
    title = yaml.safe_load(args.config.read_text()).get("title", "")
    started = time.perf_counter()
    driver = start_browser()
    try:
        pages = print_pages(driver, root_page(html, args.toc))
    finally:
        driver.quit()
    count = join(pages, out, title)
    print(f"{out}: {count} PDF pages from {len(pages)} site pages in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
