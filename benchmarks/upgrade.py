"""What upgrading from the last release costs, at scale, in the local sandbox behind a Lambda proxy with
Lambda's quotas (15 control-plane and 100 GetFunction requests per second).

    .venv/bin/python benchmarks/upgrade.py                        # 1,000 metrics made by 0.1.0
    .venv/bin/python benchmarks/upgrade.py --wrapper-changed      # ... by a 0.1.0 whose wrapper differs
    .venv/bin/python benchmarks/upgrade.py --count 300

0.1.0's operator (from its commit, sandbox/releases.py) deploys N metrics on 0.1.0's CRD, and stops. Today's
operator then starts on the same cluster, as a Deployment's new pod would after `helm upgrade`, and the script
prints: how long until it is ready (its CRD applied over 0.1.0's first), until it has taken up every metric,
and, with --wrapper-changed, until every function runs the new zip; the Lambda calls by operation and the
throttled ones; the apiserver writes by the operator; its peak memory; and how long a person's code change
to one metric, applied as the new operator became ready, took to be Ready. Numbers, not assertions.
"""

import argparse
import json
import time
from contextlib import ExitStack

from scale import (
    CONTROL_QUOTA,
    GET_QUOTA,
    apply_metrics,
    audit_position,
    calls,
    manifest,
    memory,
    operator_env,
    operator_writes,
    ready_at_generation,
    wait_ready,
)

from agreement_operator.function import packaging
from agreement_operator.sandbox import operator_process, releases
from agreement_operator.sandbox.lambda_proxy import TokenBucket
from agreement_operator.sandbox.processes import http_get
from agreement_operator.sandbox.session import sandbox

MINE = "m-mine"


def metrics_taken_up(url: str) -> float:
    """How many metrics the operator's Prometheus gauge of metrics by phase counts."""
    exported = http_get(url) or ""
    return sum(float(line.rsplit(" ", 1)[1]) for line in exported.splitlines()
               if line.startswith("agreement_operator_agreement_metrics{"))


def redeployed(box, namespace: str, count: int) -> bool:
    """Whether every metric is Ready with the CodeSha256 today's operator packages for its code."""
    items = json.loads(box.control_plane.kubectl("get", "agreementmetrics", "-n", namespace, "-o", "json").stdout)
    ready = [item for item in items["items"] if ready_at_generation(item)]
    return len(ready) >= count and all(
        item["status"].get("codeSha256") == packaging.code_sha256(packaging.build_zip(item["spec"]["code"]))
        for item in ready)


def change_mine(box, namespace: str) -> float:
    """Seconds from `kubectl apply` of a code change to m-mine until it is Ready at its new generation."""
    started = time.monotonic()
    box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest(namespace, [MINE], first=10_000))
    while time.monotonic() - started < 600:
        item = json.loads(box.control_plane.kubectl("get", "agreementmetric", MINE, "-n", namespace, "-o",
                                                    "json").stdout)
        if ready_at_generation(item):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError("the change to m-mine never became Ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--wrapper-changed", action="store_true",
                        help="0.1.0 with one line added to its wrapper: a release whose wrapper changed")
    args = parser.parse_args()
    commit = releases.commit_of("0.1.0")
    old = releases.with_changed_wrapper(commit) if args.wrapper_changed else releases.tree(commit)
    with sandbox(with_operator=False, with_crd=False) as box, ExitStack() as stack:
        proxy = box.aws.proxy()
        proxy.lifecycle.pending_seconds = 0.0
        proxy.buckets = {"control": TokenBucket(CONTROL_QUOTA), "get": TokenBucket(GET_QUOTA)}
        namespace = "upgrade"
        box.control_plane.kubectl("create", "namespace", namespace)
        box.control_plane.kubectl("apply", "-f", str(old / "crds" / "agreementmetrics.yaml"))
        box.control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                                  "crd/agreementmetrics.agreement.dev")
        env = operator_env(proxy, namespace, 600.0, {})
        previous = operator_process.start(box.workdir, stack, box.control_plane, box.aws,
                                          {**env, **releases.environment(old)}, log_name="operator-0.1.0.log",
                                          ready=False)
        started = time.monotonic()
        box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest(namespace, [MINE]))
        apply_metrics(box, namespace, args.count - 1)
        seconds, _ = wait_ready(box, namespace, args.count, max(300.0, args.count), started)
        print(f"0.1.0{' (wrapper changed)' if args.wrapper_changed else ''}: {args.count} metrics Ready in "
              f"{seconds:.0f} s; Lambda calls {calls(proxy)}")
        previous.stop()

        proxy.reset_counts()
        since = audit_position(box)
        started = time.monotonic()
        today = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                       log_name="operator-today.log")
        ready = time.monotonic() - started
        change = change_mine(box, namespace)
        while metrics_taken_up(today.metrics_url) < args.count:
            time.sleep(0.25)
        taken_up = time.monotonic() - started
        line = (f"today's operator: ready (its CRD applied over 0.1.0's) {ready:.1f} s after its start; every "
                f"metric taken up at {taken_up:.1f} s")
        if args.wrapper_changed:
            while not redeployed(box, namespace, args.count):
                time.sleep(1)
            line += f"; every function redeployed with the new wrapper at {time.monotonic() - started:.1f} s"
        print(line)
        print(f"  a code change to one metric, applied as it became ready: Ready in {change:.1f} s")
        print(f"  Lambda calls: {calls(proxy)}")
        print(f"  apiserver writes by the operator: {dict(operator_writes(box, since))}")
        print(f"  memory: peak {memory(today.process.pid)['VmHWM']:.0f} MiB, now "
              f"{memory(today.process.pid)['VmRSS']:.0f} MiB")


if __name__ == "__main__":
    main()
