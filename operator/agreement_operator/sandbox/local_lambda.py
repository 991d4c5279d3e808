"""Lambda's Invoke, for real, in front of moto (which without Docker answers with canned results).

The sandbox's Lambda proxy sends control-plane calls to moto and Invoke here. An Invoke runs
the function's actual zip in a warm execution environment of its own (lambda_runtime:
awslambdaric over the Runtime API, a separate process with the function's timeout and
memory size), answers as Lambda does (FunctionError header, LogType=Tail's log result,
InvocationType Event and DryRun), and writes what Lambda writes to CloudWatch Logs into
moto's: log group /aws/lambda/NAME, one stream per environment, START / the function's
output / END / REPORT lines. Each invocation is also counted in moto's CloudWatch as Lambda
counts it (AWS/Lambda Invocations and Errors, dimension FunctionName; `count` for Throttles).

moto's GetFunction names a code location that serves nothing, so the zips are kept as they
pass through the proxy (CreateFunction, UpdateFunctionCode), by CodeSha256, and the one run
is the one whose CodeSha256 moto reports for the function.
"""

import base64
import hashlib
import json
import threading
import time
import uuid
from pathlib import Path

import boto3

from agreement_operator.sandbox.lambda_runtime import Environment, Execution

_TAIL_BYTES = 4096  # what LogType=Tail returns: the last 4 KB of the invocation's log


class LocalLambda:
    def __init__(self, moto_url: str, region: str, workdir: Path, credentials: dict[str, str]) -> None:
        self.region, self.workdir = region, workdir
        self._lambda = boto3.client("lambda", region_name=region, endpoint_url=moto_url,
                                    aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"])
        self._logs = boto3.client("logs", region_name=region, endpoint_url=moto_url,
                                  aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                                  aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"])
        self._metrics = boto3.client("cloudwatch", region_name=region, endpoint_url=moto_url,
                                     aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"])
        self._zips: dict[str, bytes] = {}  # CodeSha256 -> zip
        self._environments: dict[str, tuple[tuple, Environment, str]] = {}  # name -> (version, environment, stream)
        self._guard = threading.Lock()

    def remember_code(self, request_body: bytes | None) -> None:
        """Keep the zip of a CreateFunction or UpdateFunctionCode request on its way to moto."""
        try:
            body = json.loads(request_body or b"{}")
        except ValueError:
            return
        encoded = (body.get("Code") or {}).get("ZipFile") or body.get("ZipFile")
        if isinstance(encoded, str):
            zip_bytes = base64.b64decode(encoded)
            with self._guard:
                self._zips[base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()] = zip_bytes

    def invoke(self, name: str, payload: bytes | None, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Lambda's answer to Invoke: status, headers, body."""
        try:
            configuration = self._lambda.get_function(FunctionName=name)["Configuration"]
        except self._lambda.exceptions.ResourceNotFoundException:
            arn = f"arn:aws:lambda:{self.region}:123456789012:function:{name}"
            return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        environment, stream = self._environment(configuration)
        if environment is None:
            return _error(500, "ServiceException", f"the sandbox has no code with CodeSha256 "
                                                   f"{configuration['CodeSha256']} for {name}")
        kind = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return 204, {}, b""
        event = json.loads(payload) if payload else {}
        if kind == "Event":
            threading.Thread(target=self._run, args=(environment, stream, name, event), daemon=True).start()
            return 202, {}, b""
        execution = self._run(environment, stream, name, event)
        answer = {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json",
                  "x-amzn-RequestId": execution.request_id}
        if execution.invocation.function_error:
            answer["X-Amz-Function-Error"] = execution.invocation.function_error
        if headers.get("X-Amz-Log-Type") == "Tail":
            tail = "\n".join(execution.log_lines).encode()[-_TAIL_BYTES:]
            answer["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return 200, answer, json.dumps(execution.invocation.payload).encode()

    def count(self, name: str, *metrics: str) -> None:
        """One more of each of Lambda's metrics named (Invocations, Errors, Throttles) for the function."""
        now = time.time()
        self._metrics.put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": metric, "Dimensions": [{"Name": "FunctionName", "Value": name}], "Value": 1.0,
             "Unit": "Count", "Timestamp": now} for metric in metrics])

    def stop(self) -> None:
        with self._guard:
            environments = [environment for _, environment, _ in self._environments.values()]
            self._environments.clear()
        for environment in environments:
            environment.stop()

    def _environment(self, configuration: dict) -> tuple[Environment | None, str]:
        """The warm environment of the function's current version (code, memory, timeout)."""
        name = configuration["FunctionName"]
        version = (configuration["CodeSha256"], configuration.get("MemorySize", 128), configuration.get("Timeout", 3))
        with self._guard:
            known = self._environments.get(name)
            if known is not None and known[0] == version:
                return known[1], known[2]
            zip_bytes = self._zips.get(version[0])
            if zip_bytes is None:
                return None, ""
            workdir = self.workdir / "lambda" / name / uuid.uuid4().hex[:8]
            workdir.mkdir(parents=True)
            environment = Environment(zip_bytes, workdir, name, memory_mb=version[1], timeout_seconds=version[2],
                                      region=self.region)
            stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
            self._environments[name] = (version, environment, stream)
        if known is not None:
            known[1].stop()
        return environment, stream

    def _run(self, environment: Environment, stream: str, name: str, event: object) -> Execution:
        started = int(time.time() * 1000)
        execution = environment.invoke(event)
        self._write_logs(name, stream, started, execution.log_lines)
        self.count(name, "Invocations", *(["Errors"] if execution.invocation.function_error else []))
        return execution

    def _write_logs(self, name: str, stream: str, started_ms: int, lines: list[str]) -> None:
        group = f"/aws/lambda/{name}"
        for create in (lambda: self._logs.create_log_group(logGroupName=group),
                       lambda: self._logs.create_log_stream(logGroupName=group, logStreamName=stream)):
            try:
                create()
            except self._logs.exceptions.ResourceAlreadyExistsException:
                pass
        ended = max(started_ms + 1, int(time.time() * 1000))
        # START at the start, the rest when the invocation ended (the runtime's output carries no times),
        # a millisecond apart: Lambda stamps each line, and readers sort by time.
        events = [{"timestamp": started_ms if index == 0 else ended + index, "message": line}
                  for index, line in enumerate(lines)]
        self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}, json.dumps(
        {"Type": "User", "message": message}).encode()
