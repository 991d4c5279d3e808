"""An agreement report as a table for the terminal, JSON, or CSV (one row per task)."""

import csv
import io
import json

from agreement_operator.score.agreement_report import BINS, Report

LOWEST_TASKS = 10
LISTED_ERRORS = 20


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pairs(count: int) -> str:
    return f"{count} pair" if count == 1 else f"{count} pairs"


def table(report: Report, metric: str) -> str:
    scored = report.scored_tasks()
    lines = [
        f"metric {metric}: {len(report.tasks)} tasks, {report.annotations} annotations "
        f"({report.skipped} skipped, left out), {report.pair_count} pairs, {len(report.errors)} failed",
        f"overall agreement (mean of {len(scored)} task agreements): {number(report.overall)}",
        *(f"note: {note}" for note in report.notes),
        "",
        "task agreement distribution:",
    ]
    widest = max(report.distribution) or 1
    for index, count in enumerate(report.distribution):
        low, high = index / BINS, (index + 1) / BINS
        bar = "#" * round(30 * count / widest)
        lines.append(f"  {low:.1f}-{high:.1f}{']' if index == BINS - 1 else ')'}  {count:>7}  {bar}".rstrip())
    if report.matrix:
        lines += ["", "annotator agreement (mean over shared tasks, pairs):"]
        width = max(len(name) for name in report.annotators)
        for (first, second), (mean, count) in report.matrix.items():
            lines.append(f"  {first.ljust(width)}  {second.ljust(width)}  {mean:.3f}  ({count})")
    if report.ground_truth:
        lines += ["", "agreement with ground truth:"]
        width = max(len(who) for who in report.ground_truth)
        for who, (mean, count) in report.ground_truth.items():
            lines.append(f"  {who.ljust(width)}  {mean:.3f}  ({_pairs(count)})")
    if report.labels:
        lines += ["", "per label (mean over the pairs that scored it):"]
        width = max(len(label) for label in report.labels)
        for label, (mean, count) in report.labels.items():
            lines.append(f"  {label.ljust(width)}  {mean:.3f}  ({_pairs(count)})")
    lowest = report.lowest_tasks(LOWEST_TASKS)
    if lowest:
        lines += ["", f"lowest task agreement (of {len(scored)}):"]
        width = max(len(str(task.id)) for task in lowest)
        lines += [f"  task {str(task.id).ljust(width)}  {number(task.agreement)}  ({_pairs(task.pairs)})"
                  for task in lowest]
    if report.errors:
        lines += ["", f"pairs the metric failed on ({len(report.errors)}, not in the means):"]
        for failure in report.errors[:LISTED_ERRORS]:
            where = f" (metric.py, line {failure.error['line']})" if failure.error.get("line") else ""
            lines.append(f"  task {failure.task}: {failure.first} vs {failure.second}: "
                         f"{failure.error.get('type')}: {failure.error.get('message')}{where}")
        if len(report.errors) > LISTED_ERRORS:
            lines.append(f"  ... and {len(report.errors) - LISTED_ERRORS} more (--format json lists all)")
    return "\n".join(lines) + "\n"


def as_json(report: Report, metric: str) -> str:
    return json.dumps({
        "metric": metric,
        "format": report.export_format,
        "tasks": len(report.tasks), "annotations": report.annotations, "skipped": report.skipped,
        "pairs": report.pair_count, "failed_pairs": len(report.errors),
        "overall": report.overall,
        "notes": report.notes,
        "distribution": [{"from": index / BINS, "to": (index + 1) / BINS, "tasks": count}
                         for index, count in enumerate(report.distribution)],
        "annotators": report.annotators,
        "matrix": [{"annotators": list(pair), "agreement": mean, "pairs": count}
                   for pair, (mean, count) in report.matrix.items()],
        "ground_truth": [{"annotator": who, "agreement": mean, "pairs": count}
                         for who, (mean, count) in report.ground_truth.items()],
        "labels": [{"label": label, "agreement": mean, "pairs": count}
                   for label, (mean, count) in report.labels.items()],
        "per_task": [{"id": task.id, "annotations": task.annotations, "skipped": task.skipped, "pairs": task.pairs,
                      "failed_pairs": task.errors, "agreement": task.agreement} for task in report.tasks],
        "errors": [{"task": failure.task, "annotators": [failure.first, failure.second], **failure.error}
                   for failure in report.errors],
    }, indent=2, default=str) + "\n"


def as_csv(report: Report, metric: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["task", "annotations", "skipped", "pairs", "failed_pairs", "agreement"])
    for task in report.tasks:
        writer.writerow([task.id, task.annotations, task.skipped, task.pairs, task.errors,
                         "" if task.agreement is None else repr(task.agreement)])
    return out.getvalue()
