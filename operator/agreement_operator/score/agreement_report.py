"""What Label Studio shows for a project, computed from every pair's score (pure: no I/O).

* Task agreement: the mean over all pairs of the task's annotations (Label Studio's "mean
  average of all inter-annotation agreement scores for each annotation pair"); a task with a
  single annotation agrees with itself, 1.0, as Label Studio counts it; one with none has no
  agreement.
* The annotator matrix: for each two annotators, the mean over the pairs of their
  annotations on shared tasks.
* Agreement with ground truth: for each annotator, the mean of their pairs with a ground
  truth annotation by someone else.
* Per label (with per-label scores): for each label, the mean over the pairs that scored it.
* Overall: the mean task agreement, and its distribution in tenths.

Pairs the metric failed on are kept out of the means, counted, and listed with their task.
"""

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agreement_operator.score.label_studio_export import Annotation, Export, pairs
from agreement_operator.score.pair_scoring import PairOutcome

BINS = 10


@dataclass(frozen=True)
class PairError:
    task: object
    first: str
    second: str
    error: Mapping


@dataclass(frozen=True)
class TaskAgreement:
    id: object
    annotations: int
    skipped: int
    pairs: int
    errors: int
    agreement: float | None  # None: no annotation, or every pair failed


@dataclass
class Report:
    tasks: list[TaskAgreement]
    annotators: list[str]
    matrix: dict[tuple[str, str], tuple[float, int]]  # (a, b) with a < b -> (mean, pairs)
    ground_truth: dict[str, tuple[float, int]]
    labels: dict[str, tuple[float, int]]
    errors: list[PairError]
    export_format: str
    annotations: int
    skipped: int
    pair_count: int
    overall: float | None = None
    distribution: list[int] = field(default_factory=lambda: [0] * BINS)
    notes: list[str] = field(default_factory=list)  # what to know about the export (annotators by id, say)

    def scored_tasks(self) -> list[TaskAgreement]:
        """The tasks that have an agreement (some annotation, and some pair scored)."""
        return [task for task in self.tasks if task.agreement is not None]

    def lowest_tasks(self, count: int) -> list[TaskAgreement]:
        return sorted(self.scored_tasks(), key=lambda task: task.agreement or 0.0)[:count]


def export_pairs(export: Export) -> list[tuple[object, Annotation, Annotation]]:
    """(task id, first, second) for every pair to score, in a stable order."""
    return [(task.id, first, second) for task in export.tasks for first, second in pairs(task)]


def build(export: Export, scored: Sequence[tuple[object, Annotation, Annotation]],
          outcomes: Sequence[PairOutcome], label_outcomes: Sequence[PairOutcome] | None = None) -> Report:
    by_task: dict[object, list[float]] = defaultdict(list)
    failed: dict[object, int] = defaultdict(int)
    matrix: dict[tuple[str, str], list[float]] = defaultdict(list)
    truth: dict[str, list[float]] = defaultdict(list)
    errors: list[PairError] = []
    for (task, first, second), outcome in zip(scored, outcomes, strict=True):
        if outcome.error is not None or not isinstance(outcome.score, int | float):
            failed[task] += 1
            errors.append(PairError(task, first.annotator, second.annotator,
                                    outcome.error or {"type": "InvalidReturnValue", "message": repr(outcome.score)}))
            continue
        score = float(outcome.score)
        by_task[task].append(score)
        if first.annotator != second.annotator:
            matrix[tuple(sorted((first.annotator, second.annotator)))].append(score)  # type: ignore[index]
        for one, other in ((first, second), (second, first)):
            if other.ground_truth and not one.ground_truth and one.annotator != other.annotator:
                truth[one.annotator].append(score)
    tasks = []
    for task in export.tasks:
        count = len(task.annotations) * (len(task.annotations) - 1) // 2
        scores = by_task.get(task.id, [])
        agreement = 1.0 if len(task.annotations) == 1 else _mean(scores)
        tasks.append(TaskAgreement(task.id, len(task.annotations), task.skipped, count, failed.get(task.id, 0),
                                   agreement))
    report = Report(
        tasks=tasks,
        annotators=sorted({annotation.annotator for task in export.tasks for annotation in task.annotations}),
        matrix={pair: (_mean(values) or 0.0, len(values)) for pair, values in sorted(matrix.items())},
        ground_truth={who: (_mean(values) or 0.0, len(values)) for who, values in sorted(truth.items())},
        labels=_labels(label_outcomes or []),
        errors=errors, export_format=export.format, annotations=export.annotations, skipped=export.skipped,
        pair_count=len(scored), notes=list(export.notes),
    )
    agreements = [task.agreement or 0.0 for task in report.scored_tasks()]
    report.overall = _mean(agreements)
    for value in agreements:
        report.distribution[min(BINS - 1, math.floor(value * BINS))] += 1
    return report


def _labels(outcomes: Sequence[PairOutcome]) -> dict[str, tuple[float, int]]:
    values: dict[str, list[float]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.error is None and isinstance(outcome.score, Mapping):
            for label, score in outcome.score.items():
                values[str(label)].append(float(score))
    return {label: (_mean(scores) or 0.0, len(scores)) for label, scores in sorted(values.items())}


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
