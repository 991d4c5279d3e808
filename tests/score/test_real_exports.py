"""`agreement-operator score` on exports the real Label Studio Community server wrote (the projects:
tests/score/conftest.py), through its export API: Export > JSON, JSON with all tasks, snapshots with
and without user details, JSON_MIN and CSV. Every task's agreement is compared with a direct
computation of the library's metric.
"""

import json
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
LIBRARY = Path(__file__).parents[2] / "examples" / "metrics"
def score(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LABEL_STUDIO_")}
    return subprocess.run([sys.executable, "-m", "agreement_operator", "score", *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False, env={**environment, **(env or {})})


def expected(export: Path, manifest: Path, predictions: bool) -> dict:
    """Every task's agreement, computed directly with the metric function on the export's annotations."""
    namespace: dict = {}
    exec(compile(yaml.safe_load(manifest.read_text())["spec"]["code"], str(manifest), "exec"), namespace)
    agreement, found = namespace["agreement"], {}
    for task in json.loads(export.read_text()):
        items = [a for a in task["annotations"] if not a.get("was_cancelled")]
        items += task["predictions"] if predictions else []
        values = [agreement(first, second) for first, second in combinations(items, 2)]
        found[task["id"]] = sum(values) / len(values) if values else (1.0 if items else None)
    return found


def per_task(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return {task["id"]: task["agreement"] for task in json.loads(result.stdout)["per_task"]}


# The projects of tests/score/conftest.py.
KINDS = ["choices", "keypoints", "multichoice", "polygons", "rating", "rectangles", "taxonomy", "text-spans",
         "textarea", "two-controls"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_tasks_agreement_in_a_snapshot_with_details_equals_the_metric_computed_directly(real, kind):
    manifest = real.metric(kind)
    export = real.snapshot(kind)
    result = score(export, manifest, "--format", "json", "--predictions")
    assert per_task(result) == pytest.approx(expected(export, manifest, predictions=True))
    report = json.loads(result.stdout)
    assert set(report["annotators"]) == {"ana@example.com", "bo@example.com", "chiara@example.com",
                                         "prediction model-v1", "prediction model-v2"}
    assert report["notes"] == [] and report["skipped"] == 1
    assert [entry["annotator"] for entry in report["ground_truth"]]  # bo's annotation is the reference


def test_export_json_lists_predictions_by_id_so_without_a_connection_they_are_refused(real):
    """Export > JSON lists predictions by id: scoring them silently without them printed wrong numbers."""
    export = real.download(real.projects["choices"])
    assert all(isinstance(item, int) for item in json.loads(export.read_text())[0]["predictions"])
    result = score(export, LIBRARY / "choices.yaml", "--predictions")
    assert result.returncode == 2 and result.stdout == ""
    assert "lists its 2 predictions by id only" in result.stderr and "--project" in result.stderr


def test_with_a_connection_predictions_and_annotators_are_read_from_label_studio(real):
    export = real.download(real.projects["choices"])
    connection = {"LABEL_STUDIO_URL": real.community.url, "LABEL_STUDIO_API_KEY": real.community.owner.token}
    result = score(export, LIBRARY / "choices.yaml", "--format", "json", "--predictions", env=connection)
    details = expected(real.snapshot("choices"), LIBRARY / "choices.yaml",
                       predictions=True)  # the snapshot has the unannotated task too
    numbers = per_task(result)
    assert numbers == pytest.approx({task: details[task] for task in numbers}) and len(numbers) == 3
    assert "ana@example.com" in json.loads(result.stdout)["annotators"]


def test_annotators_by_id_are_said_to_be_ids_and_how_to_name_them(real):
    for export in (real.download(real.projects["choices"]),
                   real.snapshot("choices", details=False)):
        result = score(export, LIBRARY / "choices.yaml")
        assert result.returncode == 0, result.stderr
        assert "note: The export names annotators by id only" in result.stdout
        assert f"user {json.loads(export.read_text())[0]['annotations'][0]['completed_by']}" in result.stdout


def test_all_tasks_export_has_the_unannotated_task_without_an_agreement(real):
    export = real.download(real.projects["choices"], "exportType=JSON&download_all_tasks=true")
    numbers = per_task(score(export, LIBRARY / "choices.yaml", "--format", "json"))
    assert len(numbers) == 4 and list(numbers.values()).count(None) == 1
    assert numbers == pytest.approx(expected(export, LIBRARY / "choices.yaml", predictions=False))


@pytest.mark.parametrize(("kind", "words"), [("CSV", "is a CSV export"), ("JSON_MIN", "is a JSON-MIN export")])
def test_csv_and_json_min_exports_are_named_and_say_what_to_export(real, kind, words):
    export = real.download(real.projects["choices"], f"exportType={kind}")
    result = score(export, LIBRARY / "choices.yaml")
    assert result.returncode == 2 and words in result.stderr and "Export > JSON" in result.stderr
    assert "Extra data" not in result.stderr  # no JSON parser error first


def test_an_export_with_no_annotated_task_says_so(real):
    config = ('<View><Text name="text" value="$text"/>'
              '<Choices name="c" toName="text"><Choice value="A"/></Choices></View>')
    project = real.community.call("POST", "/api/projects", {"title": "empty", "label_config": config})["id"]
    real.community.call("POST", f"/api/projects/{project}/import", [{"text": "nobody annotated me"}])
    result = score(real.download(project), LIBRARY / "choices.yaml")
    assert result.returncode == 2 and "has no annotated task to score" in result.stderr


def test_score_project_exports_the_project_itself(real):
    connection = {"LABEL_STUDIO_URL": real.community.url, "LABEL_STUDIO_API_KEY": real.community.owner.token}
    result = score("--project", real.projects["rectangles"], LIBRARY / "rectangles.yaml", "--format", "json",
                   "--predictions", env=connection)
    details = real.snapshot("rectangles")
    assert per_task(result) == pytest.approx(expected(details, LIBRARY / "rectangles.yaml", predictions=True))
    assert f"exporting project {real.projects['rectangles']}" in result.stderr
    missing = score("--project", real.projects["rectangles"], LIBRARY / "rectangles.yaml")
    assert missing.returncode == 2 and "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY" in missing.stderr
