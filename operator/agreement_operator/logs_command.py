"""`agreement-operator logs NAME`: a metric's function log lines, newest last, like `kubectl logs`.

The metric is read from the cluster of the current kubeconfig context. A function of the
operator's own is read from CloudWatch Logs (FilterLogEvents on /aws/lambda/NAME, with the
caller's AWS credentials and LS_LAMBDA_REGION_CUSTOM_METRICS or AWS_REGION); a metric with
spec.labelStudio from its project's function logs (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY).
`--errors` keeps the errors only, one line each; `--follow` keeps printing new lines.
"""

import datetime
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from typing import TextIO

from agreement_operator import cloudwatch_logs, errors, function_errors, kube, naming
from agreement_operator.function_errors import LogLine
from agreement_operator.label_studio_api import LabelStudioProjects

FOLLOW_SECONDS = 2.0
# Server-side filter for --errors; the lines are parsed again here, so a looser filter is harmless.
_ERROR_PATTERN = f'?"{function_errors.LOG_KEY}" ?"Task timed out"'
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LogsError(Exception):
    """What stops the command, said so the user knows what to change."""


def duration_seconds(text: str) -> float:
    """`90s`, `15m`, `1h`, `7d` in seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise LogsError(f"--since {text!r}: give a duration such as 30s, 15m, 1h or 2d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def run(name: str, namespace: str | None, since: float, errors_only: bool, follow: bool,
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
    except (LogsError, errors.ReconcileFailure) as error:
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
    region = env.get("LS_LAMBDA_REGION_CUSTOM_METRICS") or env.get("AWS_REGION")
    if not region:
        raise LogsError("set LS_LAMBDA_REGION_CUSTOM_METRICS or AWS_REGION to the region of the metric functions")
    logs = cloudwatch_logs.FunctionLogs(cloudwatch_logs.make_client(region, env.get("AWS_ENDPOINT_URL") or None))
    pattern = _ERROR_PATTERN if errors_only else None
    return lambda start: logs.events(function, start, pattern=pattern)


def _project_lines(project: int, env: Mapping[str, str]):
    url, key = env.get("LABEL_STUDIO_URL"), env.get("LABEL_STUDIO_API_KEY")
    if not url or not key:
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
    error = (function_errors.parse if label_studio else function_errors.wrapper_error)(line)
    if error is None:
        more = function_errors.suppressed(line)
        return f"{line.time} ({more} more errors of that invocation were not logged)" if more else None
    where = f" (metric.py, line {error.line})" if error.line else ""
    return f"{error.time} {error.type}: {error.message}{where}"
