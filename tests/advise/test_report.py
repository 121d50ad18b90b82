"""The report: standalone (figures as data URIs, no resource from elsewhere), answer first, and in a real
browser its figures load and nothing scrolls sideways."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_verdict import fall, rise, study_for, table

from alignbook.advise.report import figure_uri, render, write_report
from alignbook.advise.run import curve_figure, information_extra
from alignbook.advise.verdict import advice, verdicts, with_n_train
from alignbook.data.user import check_pairs


@pytest.fixture(scope="module")
def report_parts():
    sizes = {"all": 700}
    results = with_n_train(table({1: fall, 2: rise}), sizes)
    found = verdicts(results)
    rng = np.random.default_rng(0)
    pairs = check_pairs(rng.normal(size=(60, 3)), rng.normal(size=(60, 2)), np.arange(60) % 2,
                        name="a long data name " * 4)
    extra = {**information_extra(None, None, False), "timing": "Wall time 1 s.",
             "verdict_rates": [{"truth": "no effect", "effect": 0.0, "helps": 0.03, "hurts": 0.03,
                                "no detectable effect": 0.94, "se": 0.004}],
             "verdict_rates_note": "simulated"}
    content = advice(found, study_for(sizes), pairs, extra)
    figures = {"Test accuracy against lam.": figure_uri(curve_figure(results, found))}
    return content, figures


def test_the_page_answers_first_and_loads_nothing_from_elsewhere(report_parts):
    content, figures = report_parts
    page = render(content, figures)
    assert page.index("The answer") < page.index("Align when training") < page.index("The evidence")
    assert page.index("The evidence") < page.index("Defaults")
    sources = re.findall(r"(?:src|href)=['\"]([^'\"]+)", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http" not in page.replace("http-equiv", "")
    assert "Unavailable: the book's predictor" in page and "too few for the information" in page


def test_both_files_are_written_and_the_advice_reads_back(tmp_path, report_parts):
    content, figures = report_parts
    report, data = write_report(tmp_path / "out", content, figures)
    assert report.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(data.read_text()) == json.loads(json.dumps(content))


@pytest.mark.book
def test_in_a_browser_the_answer_is_on_the_first_screen_figures_load_and_nothing_scrolls_sideways(
        tmp_path, report_parts, browser):
    content, figures = report_parts
    report, _ = write_report(tmp_path, content, figures)
    for width in (1280, 420):
        browser.set_window_size(width, 900)
        browser.get(report.as_uri())
        first = browser.execute_script(
            "const a = document.getElementById('answer').getBoundingClientRect();"
            "return [a.top, window.innerHeight, document.querySelector('h2').textContent];")
        assert first[0] < first[1] and first[2] == "The answer"
        images = browser.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0);")
        assert images and all(images)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at width {width}"
