"""`agreement-operator logs NAME`: a metric's function log lines, newest last, like `kubectl logs`.

The metric is read from the cluster of the current kubeconfig context. A function of the
operator's own is read from CloudWatch Logs (FilterLogEvents on /aws/lambda/NAME, with the
caller's AWS credentials and LS_LAMBDA_REGION_CUSTOM_METRICS or AWS_REGION); a metric with
spec.labelStudio from its project's function logs (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY).
`--errors` keeps the errors only, one line each; `--follow` keeps printing new lines.
"""

import argparse
import datetime
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TextIO

from agreement_operator import config, failures
from agreement_operator.controller import kube
from agreement_operator.function import log_errors
from agreement_operator.function.log_errors import LogLine
from agreement_operator.label_studio_target.label_studio_api import LabelStudioProjects
from agreement_operator.lambda_target import cloudwatch_logs
from agreement_operator.metric import naming

FOLLOW_SECONDS = 2.0
# Server-side filter for --errors; the lines are parsed again here, so a looser filter is harmless.
_ERROR_PATTERN = f'?"{log_errors.LOG_KEY}" ?"Task timed out"'
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LogsError(Exception):
    """What stops the command, said so the user knows what to change."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the AgreementMetric")
    parser.add_argument("-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)")
    parser.add_argument("--since", default="1h", help="how far back, e.g. 30s, 15m, 1h, 2d (default 1h)")
    parser.add_argument("--errors", action="store_true", help="only the errors the metric raised, one line each")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until interrupted")


def run(args: argparse.Namespace) -> int:
    try:
        since = duration_seconds(args.since)
    except LogsError as error:
        print(f"agreement-operator logs: {error}", file=sys.stderr)
        return 2
    return show(args.name, args.namespace, since, args.errors, args.follow)


def duration_seconds(text: str) -> float:
    """`90s`, `15m`, `1h`, `7d` in seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise LogsError(f"--since {text!r}: give a duration such as 30s, 15m, 1h or 2d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def show(name: str, namespace: str | None, since: float, errors_only: bool, follow: bool,
        out: TextIO = sys.stdout, env: Mapping[str, str] = os.environ) -> int:
    try:
        api, namespace = _kubernetes(namespace)
        metric = api.read_metric(namespace, name)
        if metric is None:
            raise LogsError(f"no AgreementMetric {name} in namespace {namespace}")
        read = _source(metric, namespace, env, errors_only)
        seen: set[tuple[str, str]] = set()
        start = time.time() - since
        while True:
            for line in read(start):
                if (line.time, line.message) in seen:
                    continue
                seen.add((line.time, line.message))
                text = _format(line, errors_only, bool(metric["spec"].get("labelStudio")))
                if text is not None:
                    print(text, file=out, flush=True)
            if not follow:
                return 0
            # Overlap a little: events may arrive late; the lines already printed are skipped.
            start = max(start, time.time() - 60)
            time.sleep(FOLLOW_SECONDS)
    except KeyboardInterrupt:
        return 0
    except (LogsError, config.ConfigError, failures.ReconcileFailure) as error:
        print(f"agreement-operator logs: {error}", file=sys.stderr)
        return 1


def _kubernetes(namespace: str | None) -> tuple[kube.KubeAPI, str]:
    import kopf  # the operator's own login functions: no Kubernetes client library

    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings()) or \
        kopf.login_with_service_account(settings=kopf.OperatorSettings())
    if info is None:
        raise LogsError("no Kubernetes credentials: set KUBECONFIG (or run inside a pod)")
    api = kube.KubeAPI()
    api.log_in(kube.Credentials.from_kopf(info))
    return api, namespace or info.default_namespace or "default"


def _source(metric: Mapping, namespace: str, env: Mapping[str, str], errors_only: bool):
    """A function from a start time (epoch seconds) to the log lines since then, oldest first."""
    spec, status = metric.get("spec") or {}, metric.get("status") or {}
    if spec.get("labelStudio"):
        return _project_lines(spec["labelStudio"]["project"], env)
    function = status.get("functionName") or naming.function_name(spec.get("prefix"), namespace,
                                                                  metric["metadata"]["name"])
    client = cloudwatch_logs.make_client(config.aws_region(env), config.aws_endpoint_url(env))
    logs = cloudwatch_logs.FunctionLogs(client)
    pattern = _ERROR_PATTERN if errors_only else None
    return lambda start: logs.events(function, start, pattern=pattern)


def _project_lines(project: int, env: Mapping[str, str]):
    url, key = config.label_studio(env)
    if url is None or key is None:
        raise LogsError("this metric deploys through a Label Studio project: set LABEL_STUDIO_URL and "
                        "LABEL_STUDIO_API_KEY to read its function's logs")
    projects = LabelStudioProjects(url, key)

    def read(start: float) -> Iterator[LogLine]:
        moment = datetime.datetime.fromtimestamp(start, datetime.UTC)
        first = moment.strftime("%Y-%m-%dT%H:%M:%S")  # the API takes days: the rest is cut here
        for line in projects.function_logs(project, moment.date().isoformat(), limit=1000):
            if line.time[:19] >= first:
                yield line

    return read


def _format(line: LogLine, errors_only: bool, label_studio: bool) -> str | None:
    if not errors_only:
        return f"{line.time} {line.message.rstrip()}"
    error = (log_errors.parse if label_studio else log_errors.wrapper_error)(line)
    if error is None:
        more = log_errors.suppressed(line)
        return f"{line.time} ({more} more errors of that invocation were not logged)" if more else None
    where = f" (metric.py, line {error.line})" if error.line else ""
    return f"{error.time} {error.type}: {error.message}{where}"
