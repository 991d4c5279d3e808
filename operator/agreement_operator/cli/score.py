"""`agreement-operator score EXPORT.json METRIC.yaml` (or `--project ID METRIC.yaml`): what Label Studio
would show for a project's export, scored by the metric exactly as it would run (the packaged handler,
in batches, in separate processes with the metric's time and memory limits).

With LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY set, what an Export > JSON file leaves out (annotators'
e-mail addresses, predictions listed by id) is read from that Label Studio; `--project` exports the
project from it directly, with both."""

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from agreement_operator import config, failures
from agreement_operator.cli.package import deployable_or_say_why
from agreement_operator.function import packaging
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.metric.spec import MetricSpec
from agreement_operator.score import agreement_report, label_studio_export, pair_scoring, report_formats

FORMATS = ("table", "json", "csv", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", type=Path, metavar="EXPORT.json", nargs="?",
                        help="the project's JSON export (Export > JSON); or --project")
    parser.add_argument("metric", metavar="METRIC.yaml", help="an AgreementMetric manifest")
    parser.add_argument("--project", type=int, metavar="ID",
                        help="export project ID from LABEL_STUDIO_URL (with LABEL_STUDIO_API_KEY) instead of a file")
    parser.add_argument("--name", help="which metric of METRIC.yaml, when it has several")
    parser.add_argument("--per-label", action="store_true", help="also the agreement of each label")
    parser.add_argument("--predictions", action="store_true", help="count predictions as one more annotator each")
    parser.add_argument("--format", choices=FORMATS, default="table", dest="output_format")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    if (args.export is None) == (args.project is None):
        print("agreement-operator score: give an export file (EXPORT.json) or --project ID, not both",
              file=sys.stderr)
        return 2
    found = deployable_or_say_why(args.metric, args.name, "agreement-operator score")
    if found is None:
        return 2
    metric, spec = found
    try:
        export, source = read_export(args.export, args.project, args.predictions, os.environ)
    except (label_studio_export.ExportError, config.ConfigError, failures.ReconcileFailure) as error:
        print(f"agreement-operator score: {error}", file=sys.stderr)
        return 2
    return score(spec, metric.name, export, source, args.per_label, args.output_format, args.output)


def read_export(path: Path | None, project: int | None, predictions: bool, env: Mapping[str, str],
                err: TextIO = sys.stderr,
                connect: Callable[[str, str], LabelStudioProjects] = LabelStudioProjects,
                ) -> tuple[label_studio_export.Export, str]:
    """The export to score and where it came from: a file, or the project exported from Label Studio."""
    url, key = config.label_studio(env)
    connection = connect(url, key) if url and key else None
    if project is None:
        assert path is not None
        users = connection.users if connection else None
        fetch = connection.predictions if connection else None
        return label_studio_export.load(path, predictions, users, fetch), str(path)
    if connection is None:
        raise config.ConfigError("--project reads the project from Label Studio: set LABEL_STUDIO_URL and "
                                 "LABEL_STUDIO_API_KEY (a personal access token or a legacy token)")
    about = connection.project(project)
    print(f"exporting project {project} ({about.get('title', '')!r}, {about.get('task_number', '?')} tasks) from "
          f"{connection.url}", file=err, flush=True)
    started = time.monotonic()
    tasks = connection.export(project)
    print(f"  exported {len(tasks):,} tasks in {time.monotonic() - started:.1f} s", file=err, flush=True)
    source = f"project {project} of {connection.url}"
    return label_studio_export.parse(tasks, predictions, source, connection.users, connection.predictions), source


class Progress:
    """Pairs done so far, on stderr, for exports big enough to wait for."""

    def __init__(self, total: int, out: TextIO, quiet_below: int = pair_scoring.BATCH_PAIRS) -> None:
        self.total, self.done, self.out = total, 0, out
        self.shown = total >= quiet_below
        self.started = time.monotonic()
        self._guard = threading.Lock()

    def __call__(self, pairs: int) -> None:
        with self._guard:
            self.done += pairs
            if self.shown:
                print(f"  {self.done:,}/{self.total:,} pairs ({100 * self.done // max(1, self.total)}%, "
                      f"{time.monotonic() - self.started:.1f} s)", file=self.out, flush=True)


def score(spec: MetricSpec, metric: str, export: label_studio_export.Export, source: str, per_label: bool,
          output_format: str, output: Path | None, err: TextIO = sys.stderr, out: TextIO = sys.stdout) -> int:
    if output_format != "table" or output is not None:  # the table says them itself
        for note in export.notes:
            print(f"note: {note}", file=err)
    scored = agreement_report.export_pairs(export)
    bodies = [(first.body, second.body) for _, first, second in scored]
    zip_bytes = packaging.build_zip(spec.code)
    passes = 2 if per_label else 1
    if len(bodies) >= pair_scoring.BATCH_PAIRS:
        print(f"scoring {len(bodies):,} pairs of {len(export.tasks):,} tasks with {metric}"
              f"{' (and again per label)' if per_label else ''}", file=err, flush=True)
    progress = Progress(len(bodies) * passes, err)
    outcomes = pair_scoring.score_pairs(zip_bytes, bodies, False, spec.timeout_seconds, spec.memory_mb, progress)
    labels = pair_scoring.score_pairs(zip_bytes, bodies, True, spec.timeout_seconds, spec.memory_mb, progress) \
        if per_label else None
    report = agreement_report.build(export, scored, outcomes, labels)
    if output_format == "html":
        from agreement_operator.score import report_html

        text = report_html.page(report, metric, source)
    else:
        text = {"table": report_formats.table, "json": report_formats.as_json,
                "csv": report_formats.as_csv}[output_format](report, metric)
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({output_format}): overall agreement {report_formats.number(report.overall)}, "
              f"{len(report.errors)} failed pairs", file=err)
    if report.errors:
        print(f"{len(report.errors)} of {len(scored)} pairs failed: the metric raised or returned no valid score",
              file=err)
        return 1
    return 0
