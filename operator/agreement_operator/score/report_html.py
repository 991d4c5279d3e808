"""An agreement report as one self-contained HTML page: inline SVG and CSS, no external assets.

The annotator matrix is a heatmap (red for disagreement through yellow to green for agreement,
the value and the number of shared pairs in each cell); task agreement is a histogram in tenths.
"""

from collections.abc import Sequence
from html import escape

from agreement_operator.score.agreement_report import BINS, Report
from agreement_operator.score.report_formats import LISTED_ERRORS, LOWEST_TASKS, number

_CELL = 54
_STYLE = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2933;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.sub { color: #616e7c; margin-top: 0; }
.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: 6px 10px; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1.2rem 0; }
.card { background: #f5f7fa; border-radius: 8px; padding: .8rem 1.1rem; min-width: 8rem; }
.card b { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .25rem .8rem; text-align: left; }
th { border-bottom: 1px solid #cbd2d9; } tr:nth-child(even) td { background: #f5f7fa; }
.num { text-align: right; font-variant-numeric: tabular-nums; } .error { color: #ab091e; }
svg text { font-family: inherit; }
"""


def page(report: Report, metric: str, source: str) -> str:
    cards = [("overall agreement", number(report.overall)), ("tasks", str(len(report.tasks))),
             ("annotations", str(report.annotations)), ("skipped", str(report.skipped)),
             ("pairs", str(report.pair_count)), ("failed pairs", str(len(report.errors)))]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Agreement: {escape(metric)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Agreement of {escape(metric)}</h1>",
        f'<p class="sub">{escape(source)} ({escape(report.export_format)} format): task agreement is the mean over '
        "all pairs of a task's annotations, as Label Studio computes it; skipped annotations are left out.</p>",
        *(f'<p class="note">{escape(note)}</p>' for note in report.notes),
        '<div class="cards">' + "".join(f'<div class="card"><b>{escape(value)}</b>{escape(label)}</div>'
                                        for label, value in cards) + "</div>",
        "<h2>Task agreement</h2>", histogram(report.distribution),
    ]
    if report.matrix:
        parts += ["<h2>Annotators</h2>", '<p class="sub">Mean agreement of each two annotators over their shared '
                  "tasks; the small number is how many pairs.</p>", heatmap(report)]
    if report.ground_truth:
        parts += ["<h2>Agreement with ground truth</h2>",
                  _table(["annotator", "agreement", "pairs"],
                         [(who, number(mean), str(count)) for who, (mean, count) in report.ground_truth.items()])]
    if report.labels:
        parts += ["<h2>Per label</h2>",
                  _table(["label", "agreement", "pairs"],
                         [(label, number(mean), str(count)) for label, (mean, count) in report.labels.items()])]
    lowest = report.lowest_tasks(LOWEST_TASKS)
    if lowest:
        parts += [f"<h2>Lowest task agreement (of {len(report.scored_tasks())})</h2>",
                  _table(["task", "agreement", "annotations", "pairs"],
                         [(str(t.id), number(t.agreement), str(t.annotations), str(t.pairs)) for t in lowest])]
    if report.errors:
        rows = [(str(e.task), f"{e.first} vs {e.second}", str(e.error.get("type", "")),
                 str(e.error.get("message", "")), str(e.error.get("line") or ""))
                for e in report.errors[:LISTED_ERRORS]]
        more = f" (the first {LISTED_ERRORS})" if len(report.errors) > LISTED_ERRORS else ""
        parts += [f'<h2 class="error">Pairs the metric failed on: {len(report.errors)}{more}</h2>',
                  '<p class="sub">Left out of every mean above.</p>',
                  _table(["task", "annotations", "error", "message", "line in metric.py"], rows)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def color(value: float) -> str:
    """Red (0) through yellow (0.5) to green (1)."""
    value = min(1.0, max(0.0, value))
    red, green = (220, round(60 + 340 * value)) if value < 0.5 else (round(220 - 340 * (value - 0.5)), 200)
    return f"rgb({min(255, red)},{min(220, green)},80)"


def heatmap(report: Report) -> str:
    names = report.annotators
    longest = 7 * max(len(name) for name in names)  # pixels, roughly, at 12 px
    left, top = 12 + longest, 14 + round(0.65 * longest)  # column names are turned 40 degrees
    grid = _CELL * len(names)
    cells = []
    for row, first in enumerate(names):
        y = top + row * _CELL
        cells.append(f'<text x="{left - 6}" y="{y + _CELL / 2 + 4}" text-anchor="end" font-size="12">'
                     f"{escape(first)}</text>")
        for column, second in enumerate(names):
            x = left + column * _CELL
            found = report.matrix.get((first, second)) or report.matrix.get((second, first))
            if first == second or found is None:
                cells.append(f'<rect x="{x}" y="{y}" width="{_CELL - 2}" height="{_CELL - 2}" fill="#e4e7eb"/>')
                continue
            mean, count = found
            cells.append(f'<rect x="{x}" y="{y}" width="{_CELL - 2}" height="{_CELL - 2}" rx="3" '
                         f'fill="{color(mean)}"><title>{escape(first)} / {escape(second)}: {mean:.3f} over {count} '
                         f"pairs</title></rect>"
                         f'<text x="{x + _CELL / 2 - 1}" y="{y + _CELL / 2}" text-anchor="middle" font-size="13">'
                         f"{mean:.2f}</text>"
                         f'<text x="{x + _CELL / 2 - 1}" y="{y + _CELL / 2 + 14}" text-anchor="middle" '
                         f'font-size="9" fill="#323f4b">{count}</text>')
    for column, second in enumerate(names):
        middle = left + column * _CELL + _CELL / 2
        cells.append(f'<text x="{middle}" y="{top - 8}" text-anchor="start" font-size="12" '
                     f'transform="rotate(-40 {middle} {top - 8})">{escape(second)}</text>')
    width, height = left + grid + round(0.8 * longest), top + grid + 6
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="annotator agreement heatmap">{"".join(cells)}</svg>')


def histogram(distribution: list[int]) -> str:
    width, height, left, bottom = 560.0, 220.0, 44.0, 30.0
    bar = (width - left) / BINS
    tallest = max(distribution) or 1
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#9aa5b1"/>']
    for index, count in enumerate(distribution):
        tall = (height - bottom - 20) * count / tallest
        x, y = left + index * bar, height - bottom - tall
        parts.append(f'<rect x="{x + 2}" y="{y}" width="{bar - 4}" height="{tall}" rx="2" '
                     f'fill="{color((index + 0.5) / BINS)}"><title>{index / BINS:.1f}-{(index + 1) / BINS:.1f}: '
                     f"{count} tasks</title></rect>")
        if count:
            parts.append(f'<text x="{x + bar / 2}" y="{y - 4}" text-anchor="middle" font-size="11">{count}</text>')
        parts.append(f'<text x="{x}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">'
                     f"{index / BINS:.1f}</text>")
    parts.append(f'<text x="{width}" y="{height - bottom + 16}" text-anchor="end" font-size="11">1.0</text>')
    parts.append(f'<text x="{left - 8}" y="14" text-anchor="end" font-size="11">tasks</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 10}" height="{height}" role="img" '
            f'aria-label="histogram of task agreement">{"".join(parts)}</svg>')


def _table(header: list[str], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if cell.replace(".", "", 1).isdigit() else ""}>'
                                    f"{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
