"""What a fault that ends costs at scale, in the local sandbox with the fault kit of its AWS front door.

    .venv/bin/python benchmarks/faults.py                 # 1,000 metrics
    .venv/bin/python benchmarks/faults.py --count 300

N metrics are deployed by one operator (its function errors and usage read every `--interval` seconds),
then, each for a whole interval:
- CloudWatch healthy, then GetMetricData denied (AccessDenied): the GetMetricData calls in each interval;
- a Lambda throttling episode (UpdateFunctionCode answered 429 for 30 s, as Lambda does over its quota) while
  every metric's code changes: the Event objects each metric got for it, and how long until all are Ready.
Numbers, not assertions.
"""

import argparse
import json
import time
from collections import Counter
from contextlib import ExitStack

from scale import apply_metrics, manifest, operator_env, wait_ready

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.session import sandbox

DENIED = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: cloudwatch:GetMetricData"


def events_by_metric(box, namespace: str) -> dict[str, Counter]:
    listed = json.loads(box.control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    found: dict[str, Counter] = {}
    for event in listed:
        found.setdefault(event["involvedObject"]["name"], Counter())[event["reason"]] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0, help="function errors and usage, seconds")
    args = parser.parse_args()
    with sandbox(with_operator=False) as box, ExitStack() as stack:
        proxy = box.aws.proxy()
        namespace = "faults"
        box.control_plane.kubectl("create", "namespace", namespace)
        env = {**operator_env(proxy, namespace, 600.0, {}),
               "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": str(args.interval),
               "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": "10"}
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name="operator-faults.log")
        started = time.monotonic()
        apply_metrics(box, namespace, args.count)
        seconds, _ = wait_ready(box, namespace, args.count, max(300.0, args.count), started)
        print(f"{args.count} metrics Ready in {seconds:.0f} s")
        time.sleep(args.interval + 15)  # the first usage reads are spread over an interval, and idle 10 s first

        before = proxy.faults.seen["GetMetricData"]
        time.sleep(args.interval)
        healthy = proxy.faults.seen["GetMetricData"] - before
        proxy.faults.inject("GetMetricData", 400, "AccessDeniedException", DENIED, args.interval)
        before = proxy.faults.seen["GetMetricData"]
        time.sleep(args.interval)
        denied = proxy.faults.seen["GetMetricData"] - before
        print(f"GetMetricData calls in one {args.interval:g} s interval: {healthy} healthy, {denied} while denied "
              f"({proxy.faults.answered['GetMetricData']} answered AccessDenied)")

        proxy.faults.inject("UpdateFunctionCode", 429, "TooManyRequestsException", "Rate exceeded", 30,
                            retry_after="1")
        proxy.reset_counts()
        started = time.monotonic()
        box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest(
            namespace, [f"m-{n}" for n in range(args.count)], first=100_000))
        seconds, stalled = wait_ready(box, namespace, args.count, max(600.0, args.count * 2), started)
        per_metric = events_by_metric(box, namespace)
        episode = [counts["TooManyRequestsException"] + counts["Recovered"] for counts in per_metric.values()]
        print(f"a 30 s throttling episode while {args.count} metrics changed: all Ready {seconds:.0f} s after the "
              f"apply (ever Stalled: {'yes' if stalled else 'no'}); UpdateFunctionCode answered 429: "
              f"{proxy.faults.answered['UpdateFunctionCode']}")
        print(f"  Event objects of the episode per metric (Warning + Recovered): max {max(episode, default=0)}, "
              f"total {sum(episode)}; every Event of the namespace by reason: "
              f"{dict(sum(per_metric.values(), Counter()))}")
        operator.stop()


if __name__ == "__main__":
    main()
