"""`agreement-operator score` on a large export: wall time and pairs per second.

    .venv/bin/python benchmarks/score.py                       # 10,000 tasks x 3 annotations
    .venv/bin/python benchmarks/score.py --tasks 2000 --annotators 5 --metric examples/metrics/text-spans.yaml

The export is generated (Label Studio's JSON export format: a Choices result and a Labels span
per annotation, annotators as user objects), written to a temporary file, and scored by the
command as a user runs it, in a process of its own; the time includes reading the export,
packaging the metric, every batch invocation and the report.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
TEXT = "The delivery was late but the support team was excellent and fast."
LABELS = ("Positive", "Negative", "Neutral")


def export(tasks: int, annotators: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    people = [{"id": 100 + n, "email": f"annotator{n}@example.com"} for n in range(annotators + 2)]
    words = [(TEXT.index(word), word) for word in ("delivery", "support team", "excellent")]
    made = []
    for task in range(tasks):
        truth = rng.choice(LABELS)
        annotations = []
        for number, who in enumerate(rng.sample(people, annotators)):
            start, word = rng.choice(words)
            label = truth if rng.random() < 0.8 else rng.choice(LABELS)
            annotations.append({"id": task * 10 + number, "completed_by": who, "was_cancelled": False,
                                "ground_truth": False, "lead_time": 12.5, "result": [
                                    {"id": f"c{task}-{number}", "from_name": "sentiment", "to_name": "text",
                                     "type": "choices", "value": {"choices": [label]}},
                                    {"id": f"s{task}-{number}", "from_name": "entities", "to_name": "text",
                                     "type": "labels", "value": {"start": start, "end": start + len(word),
                                                                 "text": word, "labels": [label]}}]})
        made.append({"id": task + 1, "data": {"text": TEXT}, "annotations": annotations, "predictions": []})
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--annotators", type=int, default=3, help="annotations per task")
    parser.add_argument("--metric", default=str(ROOT / "examples" / "metrics" / "choices.yaml"))
    parser.add_argument("--format", default="json", choices=["table", "json", "csv", "html"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "export.json"
        path.write_text(json.dumps(export(args.tasks, args.annotators)))
        pairs = args.tasks * args.annotators * (args.annotators - 1) // 2
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "agreement_operator", "score", str(path), args.metric,
                                 "--format", args.format, "-o", str(Path(scratch) / f"report.{args.format}")],
                                capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
    if result.returncode not in (0, 1):
        sys.exit(result.stderr)
    print(f"{args.tasks:,} tasks x {args.annotators} annotations = {pairs:,} pairs, "
          f"metric {Path(args.metric).name}, "
          f"--format {args.format}: {seconds:.1f} s ({pairs / seconds:,.0f} pairs/s)")
    print(result.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
