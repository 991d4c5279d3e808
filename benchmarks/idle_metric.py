"""What one idle metric costs, and how long a change to an idle function takes, in the sandbox.

    .venv/bin/python benchmarks/idle_metric.py                  # intervals 100 times shorter than the defaults
    .venv/bin/python benchmarks/idle_metric.py --scale 1        # the defaults: runs for an hour

The sandbox's Lambda proxy makes a function Inactive after a few seconds without an invoke
and restores it on the next invoke (RESTORE_SECONDS Pending), as Lambda does. One metric is
applied and left idle; for one hour divided by --scale, with the resync and function-error
intervals divided by --scale too (600 s and 300 s at the defaults), the script counts every
Lambda call the proxy sees and every AWS call the operator reports on /metrics (CloudWatch
Logs, CloudWatch). Then it changes the code of the idle function and times it to Ready.
"""

import argparse
import json
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack

from prometheus_client.parser import text_string_to_metric_families

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.session import condition_of, sandbox

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
RESTORE_SECONDS = 2.0


def aws_calls(url: str) -> Counter:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    found: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "agreement_operator_aws_requests_total":
                found[f"{sample.labels['service']}:{sample.labels['operation']}"] += int(sample.value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100.0, help="how much shorter than the defaults (1: as is)")
    args = parser.parse_args()
    resync, looks, hour = 600 / args.scale, 300 / args.scale, 3600 / args.scale
    with sandbox(with_operator=False) as box, ExitStack() as stack:
        proxy = box.aws.proxy(idle_seconds=max(2.0, resync / 2), restore_seconds=RESTORE_SECONDS)
        process = operator_process.start(box.workdir, stack, box.control_plane, box.aws, {
            "AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(resync),
            "AGREEMENT_OPERATOR_FUNCTION_ERRORS_SECONDS": str(looks),
            "AGREEMENT_OPERATOR_FUNCTION_ERRORS_WINDOW_SECONDS": "3600"}, log_name="operator-idle.log")
        manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                    "metadata": {"name": "idle", "namespace": "default"}, "spec": {"code": CODE}}
        kubectl = box.control_plane.kubectl
        kubectl("apply", "-f", "-", input=json.dumps(manifest))
        kubectl("wait", "--for=condition=Ready", "--timeout=60s", "am/idle")

        def get() -> dict:
            return json.loads(kubectl("get", "am", "idle", "-o", "json").stdout)

        while get()["status"].get("state") != "Inactive":
            time.sleep(0.5)
        proxy.reset_counts()
        before = aws_calls(process.metrics_url)
        time.sleep(hour)
        after = aws_calls(process.metrics_url)
        lambda_calls = dict(proxy.calls)
        other = {key: after[key] - before[key] for key in after if after[key] - before[key] and
                 not key.startswith("lambda:")}
        print(f"one idle metric over {hour:g} s (an hour at 1/{args.scale:g} of the default intervals: resync "
              f"{resync:g} s, function errors and usage {looks:g} s):")
        print(f"  Lambda calls: {lambda_calls or 'none'} (Invoke: {proxy.invokes['custom-metric-default-idle']})")
        print(f"  other AWS calls: {other or 'none'}")
        print(f"  the function is still {get()['status']['state']}; Ready: {condition_of(get(), 'Ready')['status']}")

        manifest["spec"]["code"] = CODE.replace("1.0", "0.5")
        started = time.monotonic()
        kubectl("apply", "-f", "-", input=json.dumps(manifest))
        while True:
            item = get()
            ready = condition_of(item, "Ready")
            if ready.get("status") == "True" and ready.get("observedGeneration") == item["metadata"]["generation"]:
                break
            time.sleep(0.1)
        print(f"code change on the Inactive function to Ready: {time.monotonic() - started:.1f} s "
              f"(restore {RESTORE_SECONDS:g} s; state now {item['status']['state']})")


if __name__ == "__main__":
    main()
