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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# With a connection to the Label Studio the export came from: user id -> e-mail address, and a
# project's predictions (each with its id and task).
UserLookup = Callable[[], Mapping[object, str]]
PredictionLookup = Callable[[int], list[Mapping]]
SNAPSHOT_HINT = ("export a snapshot with user details and full predictions (Export > Create New Snapshot), or "
                 "let the command fetch the project: agreement-operator score --project ID METRIC.yaml")


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
    notes: list[str] = field(default_factory=list)  # what the report should say about the export itself

    @property
    def annotations(self) -> int:
        return sum(len(task.annotations) for task in self.tasks)

    @property
    def skipped(self) -> int:
        return sum(task.skipped for task in self.tasks)


def load(path: Path, predictions: bool = False, users: UserLookup | None = None,
         fetch_predictions: PredictionLookup | None = None) -> Export:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot read it ({error}); give the project's JSON export (Export > JSON)") \
            from error
    try:
        data = json.loads(text)
    except ValueError as error:
        if _looks_like_csv(text):
            raise ExportError(f"{path} is a CSV export, which holds one column per control and no annotation "
                              "results: export the project as JSON (Export > JSON) and give that file") from error
        raise ExportError(f"{path}: cannot read it as JSON ({error}); export the project as JSON "
                          "(Export > JSON) and give that file") from error
    return parse(data, predictions, str(path), users, fetch_predictions)


def _looks_like_csv(text: str) -> bool:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return bool(first) and first[0] not in "[{" and first.count(",") >= 1


def parse(data: object, predictions: bool = False, source: str = "the export", users: UserLookup | None = None,
          fetch_predictions: PredictionLookup | None = None) -> Export:
    """The export's tasks. `users` and `fetch_predictions` reach the Label Studio it came from, for what
    Export > JSON leaves out (annotators and predictions by id); without them, a note or an ExportError."""
    if isinstance(data, Mapping) and ("annotations" in data or "completions" in data or "data" in data):
        data = [data]  # one task on its own
    if not isinstance(data, list) or not all(isinstance(task, Mapping) for task in data):
        kind = type(data).__name__
        raise ExportError(f"{source}: a Label Studio JSON export is a list of tasks, this is a {kind}; JSON-MIN and "
                          "CSV exports hold no annotation results: export the project as JSON (Export > JSON)")
    if data and not any("annotations" in task or "completions" in task for task in data):
        raise ExportError(f"{source} is a JSON-MIN export (its tasks have no annotations: one key per control), or "
                          "tasks as imported: export the project as JSON (Export > JSON), which carries every "
                          "annotation's result")
    uses = {"completions" if "completions" in task and "annotations" not in task else "annotations" for task in data}
    notes: list[str] = []
    known = _users(data)
    if _unnamed(data, known):
        if users is not None:
            known = {**users(), **known}
        else:
            notes.append("The export names annotators by id only (Export > JSON has no user details), so they are "
                         "shown as 'user N'. For e-mail addresses, " + SNAPSHOT_HINT + ", or set LABEL_STUDIO_URL "
                         "and LABEL_STUDIO_API_KEY")
    found = _predictions(data, source, fetch_predictions) if predictions else {}
    tasks = [_task(task, index, predictions, known, found) for index, task in enumerate(data)]
    if not any(task.annotations for task in tasks):
        skipped = sum(task.skipped for task in tasks)
        raise ExportError(f"{source} has no annotated task to score ({len(tasks)} tasks, {skipped} skipped "
                          "annotations): annotate tasks, or export the project with its annotations "
                          "(Export > JSON)")
    return Export(tasks=tasks, format="completions" if uses == {"completions"} else "annotations", notes=notes)


def _unnamed(data: list, known: Mapping[object, str]) -> bool:
    """Whether some annotator is only an id nobody named."""
    return any(not isinstance(who := item.get("completed_by"), Mapping) and who is not None and who not in known
               for task in data for item in _items(task))


def _predictions(data: list, source: str, fetch: PredictionLookup | None) -> dict[object, Mapping]:
    """Prediction id -> prediction, for exports that list predictions by id (Export > JSON does)."""
    ids = {item for task in data for item in task.get("predictions") or [] if not isinstance(item, Mapping)}
    if not ids:
        return {}
    projects = {item.get("project") for task in data for item in _items(task)} - {None}
    if fetch is None or len(projects) != 1:
        raise ExportError(f"{source} lists its {len(ids)} predictions by id only (Export > JSON does), so they cannot "
                          "be scored: " + SNAPSHOT_HINT + ", or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")
    found = {item.get("id"): item for item in fetch(int(projects.pop()))}
    if missing := ids - set(found):
        raise ExportError(f"{source}: Label Studio has no predictions {sorted(missing)[:5]} any more; export the "
                          "project again")
    return found


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


def _task(task: Mapping, index: int, predictions: bool, users: Mapping[object, str],
          by_id: Mapping[object, Mapping]) -> Task:
    annotations, skipped = [], 0
    for item in _items(task):
        if item.get("was_cancelled"):
            skipped += 1
            continue
        annotations.append(Annotation(annotator_of(item, users), item, ground_truth=bool(item.get("ground_truth"))))
    if predictions:
        annotations += [Annotation(f"prediction {item.get('model_version') or item.get('id', '')}".strip(), item,
                                   prediction=True)
                        for item in (entry if isinstance(entry, Mapping) else by_id.get(entry)
                                     for entry in task.get("predictions") or [])
                        if isinstance(item, Mapping)]
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
