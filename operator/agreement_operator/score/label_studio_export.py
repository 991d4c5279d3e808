"""A Label Studio JSON export read into tasks, annotators and the annotations to compare.

Label Studio's full JSON export is a list of tasks, each with `annotations` (or, from
versions before 1.0, `completions`) and `predictions`. An annotation names its annotator in
`completed_by`: a user id, or an object with the id and the e-mail address (exports with
user details). A skipped task leaves an annotation with `was_cancelled: true`, which Label
Studio leaves out of agreement, and so does this; `ground_truth: true` marks the one a
reviewer chose as the reference. Predictions take part only when asked, each as the
annotator "prediction MODEL_VERSION".
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ExportError(ValueError):
    """The file is not a Label Studio JSON export; the message says what was found and what to export."""


@dataclass(frozen=True)
class Annotation:
    annotator: str
    body: Mapping  # the annotation as exported: what the metric receives
    ground_truth: bool = False
    prediction: bool = False


@dataclass(frozen=True)
class Task:
    id: object
    annotations: list[Annotation] = field(default_factory=list)  # skipped ones left out
    skipped: int = 0


@dataclass(frozen=True)
class Export:
    tasks: list[Task]
    format: str  # "annotations" (Label Studio 1.0 and later) or "completions" (before)

    @property
    def annotations(self) -> int:
        return sum(len(task.annotations) for task in self.tasks)

    @property
    def skipped(self) -> int:
        return sum(task.skipped for task in self.tasks)


def load(path: Path, predictions: bool = False) -> Export:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ExportError(f"{path}: cannot read it as JSON ({error}); export the project as JSON "
                          "(Export > JSON) and give that file") from error
    return parse(data, predictions, str(path))


def parse(data: object, predictions: bool = False, source: str = "the export") -> Export:
    if isinstance(data, Mapping) and ("annotations" in data or "completions" in data or "data" in data):
        data = [data]  # one task on its own
    if not isinstance(data, list) or not all(isinstance(task, Mapping) for task in data):
        kind = type(data).__name__
        raise ExportError(f"{source}: a Label Studio JSON export is a list of tasks, this is a {kind}; JSON-MIN and "
                          "CSV exports hold no annotation results: export the project as JSON (Export > JSON)")
    if data and not any("annotations" in task or "completions" in task for task in data):
        raise ExportError(f"{source}: its tasks have no annotations (a JSON-MIN export, or tasks as imported): "
                          "export the project as JSON (Export > JSON), which carries every annotation's result")
    uses = {"completions" if "completions" in task and "annotations" not in task else "annotations" for task in data}
    users = _users(data)
    tasks = [_task(task, index, predictions, users) for index, task in enumerate(data)]
    return Export(tasks=tasks, format="completions" if uses == {"completions"} else "annotations")


def _items(task: Mapping) -> list:
    items = task.get("annotations")
    if items is None:
        items = task.get("completions") or []
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _users(data: list) -> dict[object, str]:
    """User id -> e-mail address, from every annotation that names its annotator with details."""
    users = {}
    for task in data:
        for item in _items(task):
            who = item.get("completed_by")
            if isinstance(who, Mapping) and who.get("id") is not None and (who.get("email") or who.get("username")):
                users[who["id"]] = str(who.get("email") or who.get("username"))
    return users


def _task(task: Mapping, index: int, predictions: bool, users: Mapping[object, str]) -> Task:
    annotations, skipped = [], 0
    for item in _items(task):
        if item.get("was_cancelled"):
            skipped += 1
            continue
        annotations.append(Annotation(annotator_of(item, users), item, ground_truth=bool(item.get("ground_truth"))))
    if predictions:
        annotations += [Annotation(f"prediction {item.get('model_version') or item.get('id', '')}".strip(), item,
                                   prediction=True)
                        for item in task.get("predictions") or [] if isinstance(item, Mapping)]
    return Task(id=task.get("id", index), annotations=annotations, skipped=skipped)


def annotator_of(annotation: Mapping, users: Mapping[object, str] | None = None) -> str:
    """Who made it: the e-mail address when the export has user details (anywhere), else the user id."""
    who = annotation.get("completed_by")
    if isinstance(who, Mapping):
        return str(who.get("email") or who.get("username") or f"user {who.get('id', '?')}")
    if who is None:
        return "unknown annotator"
    return (users or {}).get(who) or f"user {who}"


def pairs(task: Task) -> Iterable[tuple[Annotation, Annotation]]:
    """Every unordered pair of the task's annotations (and predictions, when loaded), in export order."""
    items = task.annotations
    for first in range(len(items)):
        for second in range(first + 1, len(items)):
            yield items[first], items[second]
