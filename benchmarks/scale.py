"""Scale of the operator in the local sandbox, behind a Lambda proxy with real-Lambda behaviour.

    .venv/bin/python benchmarks/scale.py                      # N = 1, 100, 300, 1000; Pending 0 s and 1 s
    .venv/bin/python benchmarks/scale.py --counts 300 --pending 1
    .venv/bin/python benchmarks/scale.py --counts 1000 --quota  # Lambda's 15 req/s and 100 req/s quotas

For each N and Pending time, a fresh operator process deploys N new metrics (one
`kubectl apply`), and the script prints: apply-to-Ready wall time and metrics/s; Lambda
calls by operation (through the sandbox's lambda_proxy.py) and throttled calls; the
operator's writes to the apiserver (from the audit log); its peak and current memory
(VmHWM, VmRSS). Then it restarts the operator with the N unchanged metrics and prints
the same counts for the restart, and for one resync interval (how many GetFunction, and
the peak GetFunction rate in any second). With --quota the floor is N / 15 s (every
CreateFunction is a control-plane call) and the script prints the ratio to it and
whether any metric was ever Stalled. Numbers, not assertions: these machines are noisy.
"""

import argparse
import json
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.lambda_proxy import LambdaProxy, TokenBucket
from agreement_operator.sandbox.session import Sandbox, condition_of, sandbox

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {n}.0 / {n}\n"
CONTROL_QUOTA, GET_QUOTA = 15.0, 100.0
RESYNC_IDLE = 10.0  # handlers.RESYNC_IDLE_SECONDS


def memory(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmHWM", "VmRSS")}


def operator_writes(box: Sandbox, since: int) -> Counter:
    """Writes the operator (not kubectl) made since byte `since` of the audit log, by resource and verb."""
    writes: Counter = Counter()
    assert box.control_plane.audit_log is not None
    with box.control_plane.audit_log.open() as log:
        log.seek(since)
        for line in log:
            entry = json.loads(line)
            agent = entry.get("userAgent", "")
            if agent.startswith(("kubectl", "kube-apiserver")) or entry.get("stage") != "ResponseComplete":
                continue
            ref = entry.get("objectRef", {})
            resource = ref.get("resource", "?") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            writes[f"{entry['verb']} {resource}"] += 1
    return writes


def audit_position(box: Sandbox) -> int:
    log = box.control_plane.audit_log
    return log.stat().st_size if log and log.exists() else 0


def apply_metrics(box: Sandbox, namespace: str, count: int) -> None:
    items = [{"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
              "metadata": {"name": f"m-{n}", "namespace": namespace},
              "spec": {"code": CODE.format(n=n + 1), "tags": {"bench": "scale"}}} for n in range(count)]
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest)


def wait_ready(box: Sandbox, namespace: str, count: int, timeout: float, started: float) -> tuple[float, bool]:
    """Seconds from `started` until all `count` metrics are Ready, and whether any was ever seen Stalled."""
    stalled = False
    while time.monotonic() - started < timeout:
        items = box.metrics(namespace)
        stalled |= any(condition_of(item, "Stalled").get("status") == "True" for item in items)
        if len(items) == count and all(condition_of(item, "Ready").get("status") == "True" for item in items):
            return time.monotonic() - started, stalled
        time.sleep(0.25)
    raise TimeoutError(f"not all {count} metrics Ready after {timeout} s")


def calls(proxy: LambdaProxy) -> str:
    total = sum(proxy.calls.values())
    parts = ", ".join(f"{op} {n}" for op, n in sorted(proxy.calls.items()))
    throttled = sum(proxy.throttled.values())
    return f"{total} ({parts}); throttled {throttled}"


def scenario(box: Sandbox, proxy: LambdaProxy, count: int, pending: float, quota: bool, resync: float,
             retry_mode: str, extra_env: dict[str, str], measure_resync: bool) -> None:
    namespace = f"scale-{count}-{int(pending * 1000)}-{'q' if quota else 'n'}-{int(time.time()) % 100000}"
    box.control_plane.kubectl("create", "namespace", namespace)
    proxy.lifecycle.pending_seconds = pending
    proxy.buckets = {"control": None, "get": None}
    if quota:

        proxy.buckets = {"control": TokenBucket(CONTROL_QUOTA), "get": TokenBucket(GET_QUOTA)}
    env = {"AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(resync),
           "AGREEMENT_OPERATOR_NAMESPACES": namespace, "AGREEMENT_OPERATOR_RETRY_MODE": retry_mode, **extra_env}
    label = f"N={count} pending={pending:g}s{' quota 15/100 req/s' if quota else ''} retry={retry_mode}"
    with ExitStack() as stack:
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name=f"operator-{namespace}.log")
        proxy.reset_counts()
        since = audit_position(box)
        started = time.monotonic()
        apply_metrics(box, namespace, count)
        applied = time.monotonic() - started
        seconds, stalled = wait_ready(box, namespace, count, timeout=max(120.0, count / 5), started=started)
        print(f"\n{label}")
        print(f"  apply-to-Ready: {seconds:.1f} s from the start of kubectl apply ({applied:.1f} s of it applying), "
              f"{count / seconds:.1f} metrics/s"
              + (f", {seconds / (count / CONTROL_QUOTA):.2f}x the quota floor of {count / CONTROL_QUOTA:.1f} s"
                 f", ever Stalled: {'yes' if stalled else 'no'}" if quota else ""))
        print(f"  Lambda calls: {calls(proxy)}")
        print(f"  apiserver writes by the operator: {dict(operator_writes(box, since))}")
        print(f"  memory: peak {memory(operator.process.pid)['VmHWM']:.0f} MiB, "
              f"now {memory(operator.process.pid)['VmRSS']:.0f} MiB")
        operator.stop()
    with ExitStack() as stack:
        proxy.reset_counts()
        since = audit_position(box)
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name=f"operator-{namespace}-restart.log")
        time.sleep(5 + count / 200)
        print(f"  restart with {count} unchanged: Lambda calls {calls(proxy)}; "
              f"apiserver writes {dict(operator_writes(box, since))}; "
              f"memory peak {memory(operator.process.pid)['VmHWM']:.0f} MiB")
        if not measure_resync:
            return
        proxy.reset_counts()
        proxy.get_times = []
        since = audit_position(box)
        time.sleep(resync + RESYNC_IDLE + 2)  # the first checks wait until a metric was left alone that long
        per_second = Counter(int(t) for t in proxy.get_times)
        print(f"  one resync interval ({resync:g} s, after {RESYNC_IDLE:g} s idle): Lambda calls {calls(proxy)}; "
              f"peak GetFunction {max(per_second.values(), default=0)}/s; "
              f"apiserver writes {dict(operator_writes(box, since))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,100,300,1000")
    parser.add_argument("--pending", default="0,1", help="seconds a function stays Pending after create/update")
    parser.add_argument("--quota", action="store_true", help="enforce Lambda's 15 and 100 req/s quotas")
    parser.add_argument("--resync", type=float, default=60.0, help="the operator's resync interval for the run")
    parser.add_argument("--retry-mode", default="adaptive", choices=["standard", "adaptive"])
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the operator, e.g. AGREEMENT_OPERATOR_WORKERS=8")
    parser.add_argument("--no-resync", action="store_true", help="skip the resync interval measurement")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    with sandbox(with_operator=False) as box:
        proxy = box.aws.proxy()
        for count in (int(n) for n in args.counts.split(",")):
            for pending in (float(p) for p in args.pending.split(",")):
                scenario(box, proxy, count, pending, args.quota, args.resync, args.retry_mode, extra_env,
                         not args.no_resync)


if __name__ == "__main__":
    main()
