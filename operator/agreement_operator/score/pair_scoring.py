"""Pairs of annotations scored by the packaged handler, in batches, in separate processes.

The metric never runs in this process: each batch is one invocation of the zip's handler in
a fresh, isolated interpreter (local_invoke) with the metric's timeout and memory limit, as
Lambda would run it. Batches run side by side, one per CPU. A batch that fails as a whole
(over its time or memory, or the process died) is split in two and each half tried again,
down to the single pair at fault, which is reported with the batch's error.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from agreement_operator.function import local_invoke
from agreement_operator.function.invocation import describe_error_payload

BATCH_PAIRS = 2000


@dataclass(frozen=True)
class PairOutcome:
    score: object = None  # a float, or with per_label a mapping of label to float
    error: Mapping | None = None  # {"type", "message", "line"} when the metric failed on this pair


def score_pairs(zip_bytes: bytes, pairs: Sequence[tuple[Mapping, Mapping]], per_label: bool,
                timeout_seconds: float, memory_mb: int, progress: Callable[[int], None] | None = None,
                batch: int = BATCH_PAIRS, workers: int | None = None) -> list[PairOutcome]:
    """One outcome per pair, in order; `progress(n)` hears of every n pairs done."""
    chunks = [range(start, min(start + batch, len(pairs))) for start in range(0, len(pairs), batch)]
    outcomes: list[PairOutcome] = [PairOutcome()] * len(pairs)

    def run(chunk: range) -> None:
        for index, outcome in zip(chunk, _score(zip_bytes, pairs, chunk, per_label, timeout_seconds, memory_mb),
                                  strict=True):
            outcomes[index] = outcome
        if progress is not None:
            progress(len(chunk))

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        list(pool.map(run, chunks))  # list(): re-raises what a batch raised
    return outcomes


def _score(zip_bytes: bytes, pairs: Sequence[tuple[Mapping, Mapping]], chunk: range, per_label: bool,
           timeout_seconds: float, memory_mb: int) -> list[PairOutcome]:
    event = {"per_label": per_label,
             "pairs": [{"annotation_1": pairs[i][0], "annotation_2": pairs[i][1]} for i in chunk]}
    answer = local_invoke.invoke(zip_bytes, event, timeout_seconds, memory_mb)
    if answer.function_error is None and isinstance(answer.payload, Mapping):
        errors = {error["index"]: error for error in answer.payload.get("errors") or []}
        return [PairOutcome(score, _error(errors[n]) if n in errors else None)
                for n, score in enumerate(answer.payload.get("scores") or [])]
    if len(chunk) > 1:  # the whole batch failed: find the pair at fault
        middle = len(chunk) // 2
        return [*_score(zip_bytes, pairs, chunk[:middle], per_label, timeout_seconds, memory_mb),
                *_score(zip_bytes, pairs, chunk[middle:], per_label, timeout_seconds, memory_mb)]
    payload = answer.payload if isinstance(answer.payload, Mapping) else {}
    return [PairOutcome(None, {"type": str(payload.get("errorType") or answer.function_error or "Error"),
                               "message": describe_error_payload(answer.payload)})]


def _error(error: Mapping) -> dict:
    return {key: error[key] for key in ("type", "message", "line") if error.get(key) is not None}
