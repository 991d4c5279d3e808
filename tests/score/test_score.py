"""`agreement-operator score`: Label Studio exports read in both formats (the current one written by the
real Label Studio server, tests/score/conftest.py; the pre-1.0 one by hand), every pair scored by the
packaged handler in subprocesses, and the numbers Label Studio shows, checked against a direct
computation with the metric function."""

import json
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from agreement_operator.function import packaging
from agreement_operator.score import label_studio_export, pair_scoring
from agreement_operator.score.label_studio_export import ExportError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
DATA = Path(__file__).parents[1] / "data"
COMPLETIONS = DATA / "export-completions.json"  # the pre-1.0 format, which no Label Studio we can run writes
LIBRARY = ROOT / "examples" / "metrics"


def score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agreement_operator", "score", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


def metric_function(manifest: Path):
    """The metric's agreement(), loaded in this test process to compute the expected numbers by hand."""
    namespace: dict = {}
    exec(compile(yaml.safe_load(manifest.read_text())["spec"]["code"], str(manifest), "exec"), namespace)
    return namespace["agreement"]


def test_both_export_formats_are_read_with_skipped_annotations_left_out(real):
    reviews = label_studio_export.load(real.snapshot("choices"))
    assert reviews.format == "annotations" and len(reviews.tasks) == 4 and reviews.skipped == 1
    assert reviews.annotations == sum(len(task["annotations"]) for task in json.loads(
        real.snapshot("choices").read_text())) - 1
    names = {annotation.annotator for task in reviews.tasks for annotation in task.annotations}
    assert names == {"ana@example.com", "bo@example.com", "chiara@example.com"}
    assert sum(annotation.ground_truth for task in reviews.tasks for annotation in task.annotations) == 1
    with_predictions = label_studio_export.load(real.snapshot("choices"), predictions=True)
    assert with_predictions.annotations == reviews.annotations + 2
    assert any(a.annotator == "prediction model-v2" for task in with_predictions.tasks for a in task.annotations)
    old = label_studio_export.load(COMPLETIONS)
    assert old.format == "completions" and [len(task.annotations) for task in old.tasks] == [3, 3, 3, 2]
    assert {a.annotator for a in old.tasks[0].annotations} == {"user 21", "user 22", "user 23"}


@pytest.mark.parametrize(("data", "message"), [
    ({"not": "tasks"}, "a Label Studio JSON export is a list of tasks"),
    ([{"id": 1, "text": "a", "sentiment": "Positive"}], "a JSON-MIN export"),
])
def test_what_is_not_a_json_export_is_refused_saying_what_to_export(data, message):
    with pytest.raises(ExportError, match=message) as refused:
        label_studio_export.parse(data)
    assert "Export > JSON" in str(refused.value)


def test_per_task_numbers_of_the_pre_1_0_format_equal_a_direct_computation_with_the_metric():
    export, manifest = COMPLETIONS, LIBRARY / "choices.yaml"
    agreement = metric_function(manifest)
    expected = {}
    for task in json.loads(export.read_text()):
        items = [a for a in task.get("annotations", task.get("completions", [])) if not a.get("was_cancelled")]
        scores = [agreement(first, second) for first, second in combinations(items, 2)]
        expected[task["id"]] = sum(scores) / len(scores) if scores else (1.0 if items else None)
    result = score(export, manifest, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {task["id"]: task["agreement"] for task in report["per_task"]} == pytest.approx(expected)
    present = [value for value in expected.values() if value is not None]
    assert report["overall"] == pytest.approx(sum(present) / len(present))
    assert sum(bin["tasks"] for bin in report["distribution"]) == len(present)


def test_the_matrix_and_ground_truth_are_means_over_shared_pairs(real):
    agreement = metric_function(LIBRARY / "choices.yaml")
    reviews = real.snapshot("choices")
    export = label_studio_export.load(reviews)
    shared: dict = {}
    truth: dict = {}
    for task in export.tasks:
        for first, second in combinations(task.annotations, 2):
            if first.annotator == second.annotator:  # one annotator twice: in the task's mean, not the matrix
                continue
            value = agreement(first.body, second.body)
            shared.setdefault(tuple(sorted((first.annotator, second.annotator))), []).append(value)
            for one, other in ((first, second), (second, first)):
                if other.ground_truth and not one.ground_truth:
                    truth.setdefault(one.annotator, []).append(value)
    report = json.loads(score(reviews, LIBRARY / "choices.yaml", "--format", "json").stdout)
    assert {tuple(row["annotators"]): (row["agreement"], row["pairs"]) for row in report["matrix"]} == {
        pair: (pytest.approx(sum(values) / len(values)), len(values)) for pair, values in shared.items()}
    assert {row["annotator"]: row["agreement"] for row in report["ground_truth"]} == {
        who: pytest.approx(sum(values) / len(values)) for who, values in truth.items()}


def test_a_task_with_one_annotation_agrees_with_itself_and_one_with_none_has_no_agreement(tmp_path):
    tasks = [{"id": 1, "annotations": [{"completed_by": 1, "result": []}]},
             {"id": 2, "annotations": [{"completed_by": 1, "result": [], "was_cancelled": True}]}]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    report = json.loads(score(tmp_path / "export.json", LIBRARY / "choices.yaml", "--format", "json").stdout)
    assert [(task["id"], task["agreement"]) for task in report["per_task"]] == [(1, 1.0), (2, None)]
    assert report["overall"] == 1.0 and report["skipped"] == 1


def test_pairs_the_metric_fails_on_are_counted_listed_and_kept_out_of_the_means(real):
    result = score(real.snapshot("choices"), ROOT / "examples" / "fragile-metric.yaml", "--format", "json")
    assert result.returncode == 1 and "pairs failed" in result.stderr
    report = json.loads(result.stdout)
    assert report["failed_pairs"] == len(report["errors"]) > 0
    failure = report["errors"][0]
    assert {"task", "annotators", "type", "message"} <= set(failure) and failure["line"] in (3, 4)
    assert sum(task["failed_pairs"] for task in report["per_task"]) == report["failed_pairs"]
    table = score(real.snapshot("choices"), ROOT / "examples" / "fragile-metric.yaml")
    assert "pairs the metric failed on" in table.stdout and "(metric.py, line" in table.stdout


def test_a_pair_past_the_time_limit_fails_alone_and_the_others_are_scored():
    code = ("import time\n\ndef agreement(a, b, per_label=False):\n"
            "    if a.get('slow'):\n        time.sleep(10)\n    return 0.5\n")
    pairs = [({"slow": index == 5}, {}) for index in range(12)]
    outcomes = pair_scoring.score_pairs(packaging.build_zip(code), pairs, False, timeout_seconds=1, memory_mb=256,
                                        batch=6)
    assert [outcome.score for outcome in outcomes] == [0.5] * 5 + [None] + [0.5] * 6
    assert outcomes[5].error["type"] == "Sandbox.Timedout"


def test_per_label_predictions_and_every_format(real, tmp_path):
    reviews = real.snapshot("choices")
    result = score(reviews, LIBRARY / "choices.yaml", "--per-label", "--predictions")
    assert result.returncode == 0, result.stderr
    assert "per label (mean over the pairs that scored it):" in result.stdout
    assert "prediction model-v2" in result.stdout and "agreement with ground truth:" in result.stdout
    rows = score(reviews, LIBRARY / "choices.yaml", "--format", "csv").stdout.splitlines()
    assert rows[0] == "task,annotations,skipped,pairs,failed_pairs,agreement" and len(rows) == 5
    page = tmp_path / "report.html"
    written = score(reviews, LIBRARY / "choices.yaml", "--predictions", "--format", "html", "-o", page)
    assert written.returncode == 0 and f"wrote {page}" in written.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2  # the heatmap and the histogram
    outside = [part for part in html.split('"') if part.startswith(("http:", "https:", "//"))]
    assert outside == ["http://www.w3.org/2000/svg"] * 2  # self-contained: only the SVG namespace


def test_progress_goes_to_stderr_for_large_exports(tmp_path):
    tasks = [{"id": n, "annotations": [{"completed_by": who, "result": []} for who in (1, 2, 3)]}
             for n in range(800)]
    (tmp_path / "big.json").write_text(json.dumps(tasks))
    result = score(tmp_path / "big.json", LIBRARY / "choices.yaml", "--format", "csv")
    assert result.returncode == 0
    assert "scoring 2,400 pairs of 800 tasks" in result.stderr and "2,400/2,400 pairs (100%" in result.stderr
    assert len(result.stdout.splitlines()) == 801


def test_the_table_aligns_its_columns_and_ends_no_line_in_spaces(real):
    table = score(real.snapshot("multichoice"), LIBRARY / "multichoice.yaml", "--predictions",
                  "--per-label").stdout.splitlines()
    assert all(line == line.rstrip() for line in table)
    for heading in ("agreement with ground truth:", "per label (mean over the pairs that scored it):",
                    "lowest task agreement (of 3):"):
        start = table.index(heading) + 1
        rows = table[start:table.index("", start)] if "" in table[start:] else table[start:]
        assert len(rows) >= 3 and len({re.search(r" \d\.\d{3} ", row).start() for row in rows}) == 1, rows
