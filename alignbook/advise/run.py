"""The whole advice, from the user's data to the report: what `python -m alignbook advise` and chapter
`07_your_data` both run.

`advise(source, out)` reads and checks the data (`data.user.read_pairs`), plans the study within the budget
(`study.plan_study`), prints the time it expects (`study.estimate_time`), runs the study (`study.run_study`),
decides each encoder's verdict and how often such verdicts err (`verdict`), estimates the pair's information
and the `lam*` the book's predictor expects (`information`), and writes `report.html` and `advice.json`
(`report`). The chapter calls the same functions one by one and shows each step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.advise.information import (
    Decomposition,
    Prediction,
    book_predictor,
    book_table,
    decomposition,
    predicted_lam,
)
from alignbook.advise.report import figure_uri, write_report
from alignbook.advise.study import DEFAULT_BUDGET, DEFAULT_LAMS, Study, estimate_time, plan_study, run_study
from alignbook.advise.verdict import advice, verdict_rates, verdicts, with_n_train
from alignbook.data.user import UserPairs, read_pairs

SIMULATIONS = 4000  # simulated cells per truth in `verdict_rates`


@dataclass
class Findings:
    """Everything the advice found: the data, the study, its results table (with `n_train`), the verdicts,
    their error rates on simulated cells, the decomposition, the prediction, and the advice file's content."""

    pairs: UserPairs
    study: Study
    table: pd.DataFrame
    verdicts: pd.DataFrame
    rates: pd.DataFrame | None
    decomposition: Decomposition | None
    prediction: Prediction | None
    advice: dict


def rates_for(table: pd.DataFrame, found: pd.DataFrame, study: Study, n_sims: int = SIMULATIONS):
    """`verdict_rates` with the noise measured in the study's runs (`analysis.noise_model`) and an effect the
    size of the cells' median smallest detectable effect; `(rates, note)`, or `(None, why)` when the runs
    give no noise or no such effect."""
    from alignbook.analysis import noise_model

    effect = float(np.nanmedian(found["mde"])) if found["mde"].notna().any() else math.nan
    if not math.isfinite(effect):
        return None, "The runs are too few to measure their noise, so the verdicts' error rates are unknown."
    noise = noise_model(table, by=["n_train"])[0]
    rates = verdict_rates(study.lams, len(study.seeds), noise, effect, n_sims)
    note = (f"Each row: {n_sims:,} simulated cells with this study's {len(study.lams)} values of lam, "
            f"{len(study.seeds)} seeds and the noise measured in its runs (shared by a run's validation and "
            f"test scores {noise.run_sd:.4f}, test {noise.test_sd:.4f}, validation {noise.val_sd:.4f}), and "
            "a "
            f"true effect of {effect:.3f} (the median smallest detectable effect above). Under no effect, "
            "'helps' and 'hurts' are false verdicts; under a rise, 'helps' is the power.")
    return rates, note


def information_extra(found: Decomposition | None, prediction: Prediction | None,
                      predictor_found: bool) -> dict:
    """The decomposition and the prediction as plain data for `advice.json`."""
    extra = {"decomposition": None, "prediction": None}
    if found is not None:
        extra["decomposition"] = {
            "point": found.point, "low": found.low, "high": found.high,
            "note": (f"Estimated from all examples by the package's default estimator (cross-fitted "
                     f"classifiers, {found.settings['n_folds']} folds); the spread over folds shows how much "
                     "the estimate moves when the classifiers are refitted, not how far it may be from the "
                     "truth: it is not a calibrated interval (the package calibrates intervals only on data "
                     "whose exact decomposition is known).")}
    if prediction is not None:
        extra["prediction"] = {**prediction.__dict__, "text": prediction.text()}
    extra["prediction_note"] = (
        "Unavailable: the book's predictor is fitted on the book's synthetic results, which this run did not "
        "find in the results folder (an installed package does not ship them)." if not predictor_found else
        "Unavailable: the decomposition could not be estimated for these data.")
    return extra


def curve_figure(table: pd.DataFrame, found: pd.DataFrame):
    """Test accuracy against lam, one panel per label budget, each encoder's lam* marked."""
    from alignbook import analysis, plotting

    summary = analysis.curve_summary(table, by=["n_train"], metric="acc")
    return plotting.plot_lam_curves(summary, by="n_train", lam_star=found, sharey=False)


CURVE_CAPTION = ("Test accuracy against lam (mean over seeds, 95 % t interval), one panel per label budget; "
                 "triangles mark each encoder's lam* chosen on validation.")


def advice_content(found: pd.DataFrame, study: Study, pairs: UserPairs, *, rates: pd.DataFrame | None,
                   rates_note: str, information: Decomposition | None, prediction: Prediction | None,
                   predictor_found: bool, timing: str = "") -> dict:
    """The content of `advice.json` from the findings (`verdict.advice` with the decomposition, the
    prediction, the verdicts' error rates and the `timing`)."""
    extra = {**information_extra(information, prediction, predictor_found), "timing": timing,
             "verdict_rates": None if rates is None else rates.to_dict("records"),
             "verdict_rates_note": rates_note}
    return advice(found, study, pairs, extra)


def write_files(out, content: dict, table: pd.DataFrame, found: pd.DataFrame):
    """Write `report.html` (with the accuracy curves, `curve_figure`) and `advice.json` into `out`; return
    both paths."""
    return write_report(out, content, {CURVE_CAPTION: figure_uri(curve_figure(table, found))})


def advise(source, out=None, *, budget: int = DEFAULT_BUDGET, labels: int | None = None, lams=DEFAULT_LAMS,
           workers: int | str = "auto", backend: str = "local", address: str | None = None, cache_dir=None,
           progress: bool = True, book_results=None, say: Callable[[str], None] = print) -> Findings:
    """The advice for the pairs at `source` (`read_pairs`), written to the folder `out` when given.

    `budget` bounds the runs (seeds x lams x label budgets), `labels` is the user's label budget (None: every
    training example), `lams` the grid (from 0). `workers`, `backend`, `address` and `cache_dir` go to
    `run_sweep`; `book_results` is the folder holding the book's synthetic results table (default: the
    results folder). `say` receives the plan, the time estimate and the answer as lines of text.
    """
    started = time.perf_counter()
    cpu = time.process_time()
    pairs = read_pairs(source)
    study = plan_study(pairs, budget, lams, labels)
    say(f"{pairs!r}: {study.n_runs} runs ({len(study.seeds)} seeds x {len(study.lams)} lams x "
        f"{len(study.labels)} label budget(s): {', '.join(f'{n:,}' for n in study.label_sizes.values())})")
    estimate = estimate_time(pairs, study, workers if backend == "local" else "auto", cache_dir)
    say(f"Estimated time: {estimate.text()}; the information decomposition comes on top.")
    result = run_study(pairs, study, workers=workers, backend=backend, address=address, cache_dir=cache_dir,
                       progress=progress)
    table = with_n_train(result.table, study.label_sizes)
    found = verdicts(table)
    rates, rates_note = rates_for(table, found, study)
    information = decomposition(pairs)
    predictor = book_predictor(book_table(folder=book_results))
    prediction = predicted_lam(predictor, information)
    timing = (f"Wall time {time.perf_counter() - started:.0f} s, processor time of this process "
              f"{time.process_time() - cpu:.0f} s ({result.n_computed} runs trained, {result.n_cached} read "
              "from the cache).")
    content = advice_content(found, study, pairs, rates=rates, rates_note=rates_note, information=information,
                             prediction=prediction, predictor_found=predictor is not None, timing=timing)
    for line in content["recommendation"]:
        say(line)
    if out is not None:
        report, data = write_files(out, content, table, found)
        say(f"Report: {report}\nAdvice: {data}")
    return Findings(pairs, study, table, found, rates, information, prediction, content)
