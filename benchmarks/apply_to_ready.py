"""Time from `kubectl apply` to Ready for N metrics in the local sandbox.

    .venv/bin/python benchmarks/apply_to_ready.py --count 20

Prints the per-metric apply-to-Ready times (min / median / max) and the wall time
for all of them. Numbers, not assertions: these machines are noisy.
"""

import argparse
import json
import statistics
import time

from agreement_operator.sandbox.session import condition_of, sandbox

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {n}.0 / {n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    with sandbox() as box:
        manifests = [{
            "apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
            "metadata": {"name": f"bench-{n}", "namespace": "default"},
            "spec": {"code": CODE.format(n=n + 1), "tags": {"bench": "apply-to-ready"}},
        } for n in range(args.count)]
        started = time.monotonic()
        box.control_plane.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                         "items": manifests}))
        ready_at: dict[str, float] = {}
        while len(ready_at) < args.count and time.monotonic() - started < 300:
            for item in box.metrics("default"):
                name = item["metadata"]["name"]
                if name not in ready_at and condition_of(item, "Ready").get("status") == "True":
                    ready_at[name] = time.monotonic() - started
            time.sleep(0.1)
        times = sorted(ready_at.values())
        print(f"metrics: {args.count}, ready: {len(times)}")
        print(f"apply-to-Ready per metric: min {times[0]:.2f} s, median {statistics.median(times):.2f} s, "
              f"max {times[-1]:.2f} s")
        print(f"all Ready after {times[-1]:.2f} s ({args.count / times[-1]:.1f} metrics/s)")


if __name__ == "__main__":
    main()
