"""The advice as files: `advice.json` (the answer per encoder, machine-readable) and `report.html`, a
standalone page that answers first: the verdict per encoder and the recommendation, then the evidence (the
accuracy curves, how often the verdicts err on simulated curves like these), the pair's information, the
predicted `lam*` and every default. Figures are PNG data URIs and the CSS is inline: the page loads no
resource from anywhere, and its tables wrap instead of scrolling sideways.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

from alignbook.storage.files import atomic_write

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45; color: #1b1b1b;
       max-width: 56rem; margin: 0 auto; padding: 1rem; overflow-wrap: break-word; }
td { overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.4rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; overflow-wrap: normal; }
.answer { border: 2px solid #0072B2; border-radius: 6px; padding: 0.6rem 0.9rem; background: #f5faff; }
.helps { color: #006b3c; font-weight: 600; } .hurts { color: #b03a00; font-weight: 600; }
.none { color: #444; font-weight: 600; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
.note { color: #555; font-size: 0.9rem; } dt { font-weight: 600; } dd { margin: 0 0 0.5rem 1rem; }
/* narrow screens: each row a block of labelled cells, never wider than the page */
@media (max-width: 40rem) {
  thead { display: none; } table, tbody, tr, td { display: block; width: auto; }
  tr { border-bottom: 1px solid #bbb; padding: 0.3rem 0; } td { border: none; padding: 0.1rem 0.2rem; }
  td::before { content: attr(data-label) ": "; font-weight: 600; }
}
"""
INTERVALS = ("The intervals of the gain and the loss are the two-sided counterparts of the verdict's "
             "one-sided tests: 'helps' holds exactly when the gain's interval lies above 0 (and lam* > 0), "
             "'hurts' when the loss's lies below 0. The set of lam* holds every lam not significantly worse "
             "than the best on validation (95 %).")
VERDICT_CLASS = {"helps": "helps", "hurts": "hurts", "no detectable effect": "none"}


def figure_uri(fig) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _text(value) -> str:
    return html.escape(str(value), quote=False)


def _number(value, digits: int = 3, signed: bool = False) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):{'+' if signed else ''}.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td data-label='{html.escape(h)}'>{cell}</td>"
                                    for h, cell in zip(header, row, strict=True)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def verdict_rows(entries: list[dict]) -> list[list[str]]:
    """Cells of the verdict table: encoder, verdict, lam* (its confidence set), the gain at lam* and the
    loss at the worst lam (their intervals), the smallest detectable effect, seeds, labelled examples, share
    of runs at the step cap."""
    rows = []
    for e in entries:
        verdict = f"<span class='{VERDICT_CLASS[e['verdict']]}'>{_text(e['verdict'])}</span>"
        if e.get("caution"):
            verdict += " (only near lam*)"
        lam = f"{_number(e['lam_star'], 2)} [{_number(e['lam_low'], 2)}, {_number(e['lam_high'], 2)}]"
        gain, loss = (f"{_number(e[k], 3, True)} [{_number(e[k + '_low'], 3, True)}, "
                      f"{_number(e[k + '_high'], 3, True)}]" for k in ("gain", "loss"))
        rows.append([_text(f"{e['encoder']}: {e['modality']}"), verdict, lam, gain, loss,
                     _number(e["min_detectable_effect"]), str(e["n_seeds"]), f"{e['n_train']:,}",
                     _number(e.get("runs_at_cap"), 2)])
    return rows


def verdict_table(entries: list[dict]) -> str:
    """The verdict table of `entries` (advice-file entries), its intervals' level in the header."""
    level = f"{100 * entries[0]['interval_level']:g} %" if entries else ""
    header = ["encoder", "verdict", "lam* [set]", f"gain at lam* [{level}]", f"loss at worst lam [{level}]",
              "smallest detectable", "seeds", "labels", "runs at cap"]
    return _table(header, verdict_rows(entries))


def render(advice: dict, figures: dict[str, str]) -> str:
    """The report page: `advice` (the content of `advice.json`) and `figures` (caption -> data URI)."""
    data = advice["data"]
    parts = [f"<h1>Should I align? {_text(data['name'])}</h1>", "<section class='answer' id='answer'>",
             "<h2 style='margin-top:0'>The answer</h2>",
             verdict_table(advice["encoders"])]
    parts += [f"<p>{_text(line)}</p>" for line in advice["recommendation"]]
    parts += ["</section>", f"<p class='note'>{_text(advice['evidence'])} {_text(INTERVALS)}</p>"]
    if advice["scarce_labels"]:
        parts += ["<h2>With scarcer labels</h2>",
                  verdict_table(advice["scarce_labels"])]
    parts.append("<h2>The evidence</h2>")
    for caption, uri in figures.items():
        parts.append(f"<figure><img src='{uri}' alt='{html.escape(caption)}'><figcaption class='note'>"
                     f"{_text(caption)}</figcaption></figure>")
    rates = advice.get("verdict_rates") or []
    if rates:
        parts += ["<h3>How often these verdicts err</h3>",
                  f"<p>{_text(advice['verdict_rates_note'])}</p>",
                  _table(["truth", "effect", "helps", "hurts", "no detectable effect"],
                         [[_text(r["truth"]), _number(r["effect"]), _number(r["helps"], 2),
                           _number(r["hurts"], 2), _number(r["no detectable effect"], 2)] for r in rates])]
    parts += _information(advice)
    parts += ["<h2>Defaults</h2>", "<dl>"]
    parts += [f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in advice["defaults"].items()]
    parts += ["</dl>", "<h2>The data</h2>",
              f"<p>{_text(data['examples'])} examples of {len(data['classes'])} classes from "
              f"{_text(data['source'])}; " + "; ".join(
                  f"{_text(m)} of shape {_text(tuple(s))}" for m, s in zip(data["modalities"], data["shapes"],
                                                                         strict=True))
              + f"; split: {_text(data['split'])}.</p>",
              f"<p class='note'>{_text(advice.get('timing', ''))} alignbook "
              f"{_text(advice['alignbook'])}.</p>"]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Should I align? {_text(data['name'])}</title><style>{CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def _information(advice: dict) -> list[str]:
    parts = ["<h2>What the pair carries about the label</h2>"]
    found = advice.get("decomposition")
    if not found:
        parts.append("<p>The data are too few for the information decomposition.</p>")
    else:
        names = {"R": "redundancy R", "U1": "unique to x1, U1", "U2": "unique to x2, U2", "S": "synergy S",
                 "I1": "I(x1; y)", "I2": "I(x2; y)", "I12": "I(x1, x2; y)"}
        rows = [[_text(names[k]), _number(found["point"][k]), f"{_number(found['low'][k])} to "
                 f"{_number(found['high'][k])}"] for k in names]
        parts += [f"<p>{_text(found['note'])}</p>",
                  _table(["quantity (nats)", "estimate", "spread over folds (not a calibrated interval)"],
                         rows)]
    prediction = advice.get("prediction")
    parts.append("<h3>The lam* the book's predictor expects</h3>")
    parts.append(f"<p>{_text(prediction['text'] if prediction else advice['prediction_note'])}</p>")
    return parts


def write_report(folder, advice: dict, figures: dict[str, str]) -> tuple[Path, Path]:
    """Write `report.html` and `advice.json` into `folder` (created); return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report, data = folder / "report.html", folder / "advice.json"
    atomic_write(data, (json.dumps(advice, indent=2, allow_nan=False) + "\n").encode())
    atomic_write(report, render(advice, figures).encode())
    return report, data
