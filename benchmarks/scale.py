"""Scale of the operator in the local sandbox, behind a Lambda proxy with real-Lambda behaviour.

    .venv/bin/python benchmarks/scale.py                      # N = 1, 100, 300, 1000; Pending 0 s and 1 s
    .venv/bin/python benchmarks/scale.py --counts 300 --pending 1
    .venv/bin/python benchmarks/scale.py --counts 300,1000 --pending 0 --quota --no-resync   # Lambda's quotas
    .venv/bin/python benchmarks/scale.py --counts 1000 --pending 0 --quota --other-client 5 --no-resync
    .venv/bin/python benchmarks/scale.py --counts 1000 --pending 0 --quota --operators 2 --no-resync
    .venv/bin/python benchmarks/scale.py --counts 1000 --pending 0 --quota --interactive --no-resync
    .venv/bin/python benchmarks/scale.py --memory 1000,5000   # memory per metric, one operator
    .venv/bin/python benchmarks/scale.py --accounts 4 --counts 300 --quota   # 4 accounts at their budgets at once

For each N and Pending time, a fresh operator process deploys N new metrics (one
`kubectl apply`), and the script prints: apply-to-Ready wall time and metrics/s; Lambda
calls by operation (through the sandbox's lambda_proxy.py) and throttled calls; the
operator's writes to the apiserver (from the audit log); its peak and current memory
(VmHWM, VmRSS). Then it restarts the operator with the N unchanged metrics and prints
the same counts for the restart, and for one resync interval. With --quota the proxy
enforces Lambda's 15 and 100 req/s, and the script prints the ratio to the budget's floor
(N / the operator's control-plane share: every CreateFunction is a control-plane call) and
whether any metric was ever Stalled. --other-client takes that many control-plane calls
per second from the same quota, as another tool in the account would; --operators K runs
K operators on one account (each a cluster of its own), each with 1/K of the quota;
--interactive changes the code of one existing metric just after the burst was applied
and prints how long that change took to be Ready. --accounts N gives one operator N AWS
connections (accounts and regions, each with Lambda's quota of its own in the proxy) and
deploys N at once to each: the aggregate rate against N x the budget, the 429s of each
account, and the memory each connection costs an idle operator. Numbers, not assertions:
these machines are noisy.
"""

import argparse
import itertools
import json
import os
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from agreement_operator.config import DEFAULT_LAMBDA_REQUESTS_PER_SECOND
from agreement_operator.sandbox import operator_process
from agreement_operator.sandbox.lambda_proxy import LambdaProxy, TokenBucket
from agreement_operator.sandbox.processes import http_get
from agreement_operator.sandbox.session import Sandbox, condition_of, sandbox

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return {n}.0 / {n}\n"
CONTROL_QUOTA, GET_QUOTA = 15.0, 100.0
RESYNC_IDLE = 10.0  # handlers.RESYNC_IDLE_SECONDS
IDLE_SAMPLE_SECONDS = 30.0


def memory(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmHWM", "VmRSS")}


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def periodic_looks(url: str) -> float:
    exported = http_get(url) or ""
    return sum(float(line.split()[-1]) for line in exported.splitlines()
               if line.startswith("agreement_operator_periodic_looks_total "))


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


def manifest(namespace: str, names: list[str], first: int = 0, connection: str | None = None) -> str:
    placed = {"aws": {"connection": connection}} if connection else {}
    items = [{"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
              "metadata": {"name": name, "namespace": namespace},
              "spec": {"code": CODE.format(n=first + n + 1), "tags": {"bench": "scale"}, **placed}}
             for n, name in enumerate(names)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def apply_metrics(box: Sandbox, namespace: str, count: int, first: int = 0) -> None:
    names = [f"m-{n}" for n in range(first, first + count)]
    box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest(namespace, names, first))


def ready_at_generation(item: dict) -> bool:
    ready = condition_of(item, "Ready")
    return ready.get("status") == "True" and ready.get("observedGeneration") == item["metadata"]["generation"]


def wait_ready(box: Sandbox, namespace: str, count: int, timeout: float, started: float) -> tuple[float, bool]:
    """Seconds from `started` until all `count` metrics are Ready, and whether any was ever seen Stalled."""
    stalled = False
    while time.monotonic() - started < timeout:
        items = box.metrics(namespace)
        stalled |= any(condition_of(item, "Stalled").get("status") == "True" for item in items)
        if len(items) >= count and all(ready_at_generation(item) for item in items):
            return time.monotonic() - started, stalled
        time.sleep(0.25)
    raise TimeoutError(f"not all {count} metrics Ready after {timeout} s")


def calls(proxy: LambdaProxy) -> str:
    total = sum(proxy.calls.values())
    parts = ", ".join(f"{op} {n}" for op, n in sorted(proxy.calls.items()))
    return f"{total} ({parts}); throttled {sum(proxy.throttled.values())} {dict(proxy.throttled)}"


class OtherClient:
    """Another tool in the account: `rate` control-plane calls per second from the proxy's quota."""

    def __init__(self, proxy: LambdaProxy, rate: float) -> None:
        self.proxy, self.rate, self.sent, self.refused = proxy, rate, 0, 0
        self.stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stopped.wait(1.0 / self.rate):
            bucket = self.proxy.buckets["control"]
            self.sent += 1
            self.refused += 0 if bucket is None or bucket.take() else 1


def operator_env(proxy: LambdaProxy, namespace: str, resync: float, extra_env: dict[str, str]) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": proxy.url, "AGREEMENT_OPERATOR_RESYNC_SECONDS": str(resync),
            "AGREEMENT_OPERATOR_NAMESPACES": namespace, "AGREEMENT_OPERATOR_CLUSTER_ID": namespace, **extra_env}


def interactive_change(box: Sandbox, namespace: str) -> float:
    """Seconds from `kubectl apply` of a code change to metric m-mine until it is Ready at the new generation."""
    started = time.monotonic()
    box.control_plane.kubectl("apply", "--server-side", "-f", "-",
                              input=manifest(namespace, ["m-mine"], first=10_000))
    while time.monotonic() - started < 600:
        item = json.loads(box.control_plane.kubectl("get", "agreementmetric", "m-mine", "-n", namespace,
                                                    "-o", "json").stdout)
        if ready_at_generation(item):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError("the interactive change never became Ready")


def scenario(box: Sandbox, proxy: LambdaProxy, count: int, pending: float, args, extra_env: dict[str, str]) -> float:
    """One burst of `count` new metrics (per operator); its metrics/s."""
    tag = f"{count}-{int(pending * 1000)}-{'q' if args.quota else 'n'}-{int(time.time()) % 100000}"
    namespaces = [f"scale-{tag}-{k}" for k in range(args.operators)]
    proxy.lifecycle.pending_seconds = pending
    proxy.buckets = {"control": TokenBucket(CONTROL_QUOTA), "get": TokenBucket(GET_QUOTA)} if args.quota else \
        {"control": None, "get": None}
    share = float(extra_env.get("AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND", DEFAULT_LAMBDA_REQUESTS_PER_SECOND))
    if args.operators > 1 and "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND" not in extra_env:
        share = CONTROL_QUOTA / args.operators
        extra_env = {**extra_env, "AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": str(share)}
    label = (f"N={count} pending={pending:g}s{' quota 15/100 req/s' if args.quota else ''} share {share:g} req/s"
             f"{f' x {args.operators} operators' if args.operators > 1 else ''}"
             f"{f' other client {args.other_client:g} req/s' if args.other_client else ''}")
    with ExitStack() as stack:
        operators = []
        for namespace in namespaces:
            box.control_plane.kubectl("create", "namespace", namespace)
            operators.append(operator_process.start(box.workdir, stack, box.control_plane, box.aws,
                                                    operator_env(proxy, namespace, args.resync, extra_env),
                                                    log_name=f"operator-{namespace}.log"))
        if args.interactive:
            box.control_plane.kubectl("apply", "--server-side", "-f", "-", input=manifest(namespaces[0], ["m-mine"]))
            wait_ready(box, namespaces[0], 1, 60, time.monotonic())
        other = OtherClient(proxy, args.other_client) if args.other_client else None
        proxy.reset_counts()
        since = audit_position(box)
        started = time.monotonic()
        appliers = [threading.Thread(target=apply_metrics, args=(box, namespace, count)) for namespace in namespaces]
        for applier in appliers:
            applier.start()
        for applier in appliers:
            applier.join()
        applied = time.monotonic() - started
        change = interactive_change(box, namespaces[0]) if args.interactive else None
        results = [wait_ready(box, namespace, count + bool(args.interactive), max(120.0, count / 2), started)
                   for namespace in namespaces]
        seconds, stalled = max(result[0] for result in results), any(result[1] for result in results)
        if other:
            other.stopped.set()
        total = count * args.operators
        floor = count / share
        print(f"\n{label}")
        print(f"  apply-to-Ready: {seconds:.1f} s from the start of kubectl apply ({applied:.1f} s of it applying), "
              f"{total / seconds:.1f} metrics/s"
              + (f", {seconds / floor:.2f}x the budget's floor of {floor:.1f} s, "
                 f"ever Stalled: {'yes' if stalled else 'no'}" if args.quota else ""))
        if change is not None:
            print(f"  a code change to one existing metric, applied as the burst's apply returned: Ready in "
                  f"{change:.1f} s")
        if other:
            print(f"  the other client: {other.sent} calls, {other.refused} answered 429")
        print(f"  Lambda calls: {calls(proxy)}")
        print(f"  apiserver writes by the operator: {dict(operator_writes(box, since))}")
        for operator in operators:
            print(f"  memory: peak {memory(operator.process.pid)['VmHWM']:.0f} MiB, "
                  f"now {memory(operator.process.pid)['VmRSS']:.0f} MiB")
            operator.stop()
    if not args.no_restart:
        restart(box, proxy, namespaces[0], count, args, extra_env)
    return total / seconds


def restart(box: Sandbox, proxy: LambdaProxy, namespace: str, count: int, args, extra_env: dict[str, str]) -> None:
    with ExitStack() as stack:
        proxy.reset_counts()
        since = audit_position(box)
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws,
                                          operator_env(proxy, namespace, args.resync, extra_env),
                                          log_name=f"operator-{namespace}-restart.log")
        time.sleep(5 + count / 200)
        print(f"  restart with {count} unchanged: Lambda calls {calls(proxy)}; "
              f"apiserver writes {dict(operator_writes(box, since))}; "
              f"memory peak {memory(operator.process.pid)['VmHWM']:.0f} MiB")
        if args.no_resync:
            return
        proxy.reset_counts()
        proxy.get_times = []
        since = audit_position(box)
        time.sleep(args.resync + RESYNC_IDLE + 2)  # the first checks wait until a metric was left alone that long
        per_second = Counter(int(t) for t in proxy.get_times)
        print(f"  one resync interval ({args.resync:g} s, after {RESYNC_IDLE:g} s idle): Lambda calls {calls(proxy)}; "
              f"peak GetFunction {max(per_second.values(), default=0)}/s; "
              f"apiserver writes {dict(operator_writes(box, since))}")


def memory_growth(box: Sandbox, proxy: LambdaProxy, counts: list[int], extra_env: dict[str, str]) -> None:
    """One operator, metrics added in steps up to each count: its memory once each step has settled."""
    namespace = f"memory-{int(time.time()) % 100000}"
    box.control_plane.kubectl("create", "namespace", namespace)
    proxy.lifecycle.pending_seconds = 0.0
    proxy.buckets = {"control": None, "get": None}
    unpaced = {"AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND": "1000",
               "AGREEMENT_OPERATOR_LAMBDA_READS_PER_SECOND": "1000"}
    env = {**operator_env(proxy, namespace, 600.0, extra_env), **unpaced}
    seen: list[tuple[int, float]] = []
    with ExitStack() as stack:
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name=f"operator-{namespace}.log")
        print(f"\nmemory with 0 metrics: {memory(operator.process.pid)['VmRSS']:.0f} MiB")
        done = 0
        for count in counts:
            started = time.monotonic()
            apply_metrics(box, namespace, count - done, first=done)
            seconds, _ = wait_ready(box, namespace, count, max(300.0, count), started)
            done = count
            time.sleep(15)  # let the burst's garbage go
            rss = memory(operator.process.pid)
            seen.append((count, rss["VmRSS"]))
            print(f"memory with {count} metrics (Ready after {seconds:.0f} s): now {rss['VmRSS']:.0f} MiB, "
                  f"peak {rss['VmHWM']:.0f} MiB")
            cpu, looks = cpu_seconds(operator.process.pid), periodic_looks(operator.metrics_url)
            time.sleep(IDLE_SAMPLE_SECONDS)
            print(f"  then, {IDLE_SAMPLE_SECONDS:.0f} s left alone: CPU "
                  f"{(cpu_seconds(operator.process.pid) - cpu) / IDLE_SAMPLE_SECONDS * 100:.1f}% of a core, "
                  f"{(periodic_looks(operator.metrics_url) - looks) / IDLE_SAMPLE_SECONDS:.1f} periodic looks/s")
    for (low, low_rss), (high, high_rss) in itertools.pairwise(seen):
        print(f"growth per metric from {low} to {high}: {(high_rss - low_rss) * 1024 / (high - low):.1f} KiB")


REGIONS = ("eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1", "us-east-2", "ca-central-1", "sa-east-1")


def idle_memory(box: Sandbox, env: dict[str, str], namespace: str) -> float:
    """VmRSS of an operator started with `env` and no metrics, once it has settled."""
    with ExitStack() as stack:
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name=f"operator-{namespace}-idle.log")
        time.sleep(10)
        return memory(operator.process.pid)["VmRSS"]


def accounts_burst(box: Sandbox, proxy: LambdaProxy, count: int, accounts: int, args,
                   extra_env: dict[str, str]) -> None:
    """One operator, `accounts` named AWS connections, `count` new metrics in each at once."""
    namespace = f"accounts-{accounts}-{count}-{int(time.time()) % 100000}"
    box.control_plane.kubectl("create", "namespace", namespace)
    proxy.lifecycle.pending_seconds = 0.0
    proxy.buckets = {"control": TokenBucket(CONTROL_QUOTA), "get": TokenBucket(GET_QUOTA)} if args.quota else \
        {"control": None, "get": None}
    places = {f"a{k}": (f"{(k + 1) * 111111111111 % 10 ** 12:012d}", REGIONS[k % len(REGIONS)])
              for k in range(accounts)}
    connections = [box.aws.connection(name, account, region, [namespace]) for name, (account, region) in places.items()]
    env = operator_env(proxy, namespace, args.resync, extra_env)
    alone = idle_memory(box, env, namespace)
    env["AGREEMENT_OPERATOR_AWS_CONNECTIONS"] = json.dumps(connections)
    share = float(extra_env.get("AGREEMENT_OPERATOR_LAMBDA_REQUESTS_PER_SECOND", DEFAULT_LAMBDA_REQUESTS_PER_SECOND))
    with ExitStack() as stack:
        operator = operator_process.start(box.workdir, stack, box.control_plane, box.aws, env,
                                          log_name=f"operator-{namespace}.log")
        time.sleep(10)
        connected = memory(operator.process.pid)["VmRSS"]
        proxy.reset_counts()
        started = time.monotonic()
        for name in places:
            box.control_plane.kubectl("apply", "--server-side", "-f", "-",
                                      input=manifest(namespace, [f"{name}-{n}" for n in range(count)], 0, name))
        seconds, stalled = wait_ready(box, namespace, count * accounts, max(300.0, count * accounts), started)
        peak = memory(operator.process.pid)["VmHWM"]
    total = count * accounts
    print(f"\n{accounts} accounts x {count} metrics{' quota 15/100 req/s each' if args.quota else ''}, "
          f"share {share:g} req/s each")
    print(f"  apply-to-Ready: {seconds:.1f} s, {total / seconds:.1f} metrics/s against {accounts} x {share:g} = "
          f"{accounts * share:g} req/s of budgets; ever Stalled: {'yes' if stalled else 'no'}")
    throttled = {f"{account}/{region}": proxy.throttled_in[(account, region)] for account, region in places.values()}
    print(f"  429s: {sum(proxy.throttled_in.values())} in all; by account: {throttled}")
    print(f"  memory: idle {alone:.0f} MiB with the default connection alone, {connected:.0f} MiB with "
          f"{accounts} more ({(connected - alone) / accounts:.1f} MiB each); peak in the burst {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,100,300,1000")
    parser.add_argument("--pending", default="0,1", help="seconds a function stays Pending after create/update")
    parser.add_argument("--quota", action="store_true", help="enforce Lambda's 15 and 100 req/s quotas")
    parser.add_argument("--other-client", type=float, default=0.0, metavar="RPS",
                        help="another client's control-plane calls per second from the same quota")
    parser.add_argument("--operators", type=int, default=1, help="operators on one account, each 1/K of the quota")
    parser.add_argument("--interactive", action="store_true", help="time one code change during the burst")
    parser.add_argument("--memory", metavar="COUNTS", help="memory of one operator at these metric counts")
    parser.add_argument("--resync", type=float, default=60.0, help="the operator's resync interval for the run")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the operator, e.g. AGREEMENT_OPERATOR_WORKERS=8")
    parser.add_argument("--no-resync", action="store_true", help="skip the resync interval measurement")
    parser.add_argument("--no-restart", action="store_true", help="skip the restart measurement")
    parser.add_argument("--accounts", type=int, default=0, help="AWS connections of one operator, each at its budget")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    with sandbox(with_operator=False) as box:
        proxy = box.aws.proxy()
        if args.memory:
            memory_growth(box, proxy, [int(n) for n in args.memory.split(",")], extra_env)
            return
        if args.accounts:
            for count in (int(n) for n in args.counts.split(",")):
                accounts_burst(box, proxy, count, args.accounts, args, extra_env)
            return
        for count in (int(n) for n in args.counts.split(",")):
            rates = {pending: scenario(box, proxy, count, pending, args, extra_env)
                     for pending in (float(p) for p in args.pending.split(","))}
            if 0.0 in rates and len(rates) > 1:
                print("\n" + "; ".join(f"N={count}: Pending {pending:g} s at {rate / rates[0.0]:.2f}x the "
                                       "no-Pending rate" for pending, rate in rates.items() if pending))


if __name__ == "__main__":
    main()
