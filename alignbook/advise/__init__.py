"""Should I align on my data? The book's answer for a user's own pairs, per encoder.

`study` plans and runs the `lam` sweep behind the advice (defaults sized from the data, the book's training
rule, seeds that draw their own data, a time estimate from a pilot), `verdict` decides per encoder whether
alignment helps, hurts or makes no detectable difference (the book's verdict protocol) and how often such
verdicts err on simulated cells like these, `information` estimates the pair's information decomposition and
the `lam*` the book's predictor expects, `report` writes `report.html` and `advice.json`, and `run` does all
of it (`advise`, behind `python -m alignbook advise DATA --out DIR`). The data formats are read by
`alignbook.data.user`. Nothing here imports the book's chapters: the advice works from an installed package.
"""

from alignbook.advise.information import (
    Decomposition,
    Prediction,
    book_predictor,
    book_table,
    decomposition,
    predicted_lam,
)
from alignbook.advise.report import figure_uri, render, write_report
from alignbook.advise.run import (
    Findings,
    advice_content,
    advise,
    curve_figure,
    information_extra,
    rates_for,
    write_files,
)
from alignbook.advise.study import (
    DEFAULT_BUDGET,
    DEFAULT_LAMS,
    Study,
    TimeEstimate,
    estimate_time,
    plan_study,
    run_study,
    train_settings,
)
from alignbook.advise.verdict import (
    VERDICT_COLUMNS,
    VERDICTS,
    advice,
    recommendation,
    verdict_of,
    verdict_rates,
    verdicts,
    with_n_train,
)

__all__ = [
    "DEFAULT_BUDGET", "DEFAULT_LAMS", "VERDICTS", "VERDICT_COLUMNS", "Decomposition", "Findings",
    "Prediction", "Study", "TimeEstimate", "advice", "advice_content", "advise", "book_predictor",
    "book_table", "curve_figure", "decomposition", "estimate_time", "figure_uri", "information_extra",
    "plan_study", "predicted_lam", "rates_for", "recommendation", "render", "run_study", "train_settings",
    "verdict_of", "verdict_rates", "verdicts", "with_n_train", "write_files", "write_report",
]
