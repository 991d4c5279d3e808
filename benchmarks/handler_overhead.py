"""The handler wrapper's cost over calling the metric directly, for exact-match pairs.

    .venv/bin/python benchmarks/handler_overhead.py [--pairs 10000] [--repeat 7]

The metric is the library's choices-exact (examples/metrics/choices.yaml); --trivial uses a
one-line comparison instead, the worst case for the wrapper's relative cost.
Runs in a separate Python process on the unpacked zip (metric code never runs in the caller),
timing the best of --repeat runs of (a) a plain loop calling metric.agreement on every pair
and (b) agreement_handler.handler with all pairs in one batch event. Prints both and the ratio.
"""

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from agreement_operator.function import packaging

LIBRARY_METRIC = Path(__file__).resolve().parent.parent / "examples" / "metrics" / "choices.yaml"
TRIVIAL = '''
def agreement(annotation_1, annotation_2, per_label=False):
    return float(annotation_1["result"] == annotation_2["result"])
'''

RUNNER = '''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import agreement_handler, metric
pairs_count, repeat = int(sys.argv[2]), int(sys.argv[3])
choice = lambda label: {"result": [{"type": "choices", "from_name": "s", "to_name": "t",
                                    "value": {"choices": [label]}}]}
pairs = [{"annotation_1": choice("A"), "annotation_2": choice("A" if n % 3 else "B")} for n in range(pairs_count)]
event = {"pairs": pairs, "per_label": False}

def direct():
    return [metric.agreement(p["annotation_1"], p["annotation_2"], per_label=False) for p in pairs]

def wrapped():
    return agreement_handler.handler(event, None)["scores"]

assert direct() == wrapped()
best = {}
for name, run in (("direct", direct), ("handler", wrapped)):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    best[name] = min(times)
print(json.dumps(best))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--trivial", action="store_true", help="a one-line metric instead of choices-exact")
    args = parser.parse_args()
    code = TRIVIAL if args.trivial else yaml.safe_load(LIBRARY_METRIC.read_text())["spec"]["code"]
    with tempfile.TemporaryDirectory() as task_root:
        zipfile.ZipFile(io.BytesIO(packaging.build_zip(code))).extractall(task_root)
        output = subprocess.run([sys.executable, "-I", "-c", RUNNER, task_root, str(args.pairs), str(args.repeat)],
                                capture_output=True, text=True, check=True, cwd=Path(task_root)).stdout
    best = json.loads(output)
    print(f"{args.pairs} exact-match pairs ({'trivial metric' if args.trivial else 'choices-exact'}), "
          f"best of {args.repeat}:")
    print(f"  direct loop   {best['direct'] * 1000:8.2f} ms")
    print(f"  handler batch {best['handler'] * 1000:8.2f} ms")
    print(f"  ratio         {best['handler'] / best['direct']:8.2f}x")


if __name__ == "__main__":
    main()
