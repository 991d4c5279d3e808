"""A Lambda execution environment on this machine: a function's zip run by awslambdaric.

awslambdaric is the runtime interface client of Lambda's Python images: it imports the
handler (`agreement_handler.handler`) from the task root and serves the invocations it
fetches from the Lambda Runtime API. This module serves that API's four documented
endpoints on a loopback port (the Runtime Interface Emulator cannot be fetched here: the
Go module proxy refuses github.com/aws/aws-lambda-runtime-interface-emulator).

An environment is warm, as in Lambda: one process answers invocations one at a time and
imports the metric once. It runs with the function's memory size as its address-space
limit; an invocation that outlives the function's timeout kills the process, and the next
invocation starts a new one (with a new Init Duration). What the process writes during an
invocation is that invocation's log.
"""

import io
import json
import math
import os
import queue
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agreement_operator.function.invocation import Invocation
from agreement_operator.sandbox.processes import Child

API = "/2018-06-01/runtime"
# How long to wait for the runtime's next request after it answered: by then it has written
# everything the invocation logs.
_DRAIN_SECONDS = 2.0


class RuntimeAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, function_arn: str) -> None:
        super().__init__(("127.0.0.1", 0), _Endpoints)
        self.function_arn = function_arn
        self.pending: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self.answers: dict[str, tuple[bytes, str | None]] = {}
        self.started: dict[str, float] = {}  # request id -> when the runtime took it (monotonic)
        self.finished: dict[str, float] = {}  # request id -> when it answered
        self.answered: set[str] = set()  # answered since the runtime last asked for an invocation
        self.drained: set[str] = set()  # answered, and the runtime has asked for its next invocation since
        self.first_request: float | None = None  # when the runtime first asked for work: its init is over
        self.changed = threading.Condition()
        self.init_error: bytes | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def submit(self, request_id: str, event: bytes, deadline: float) -> None:
        self.pending.put((request_id, event, deadline))

    def wait(self, request_id: str, init_timeout: float, timeout: float) -> tuple[bytes, str | None] | None:
        """The answer (body, function error type) to `request_id`, or None if none came in time: the
        runtime has `init_timeout` to take the event, then `timeout` to answer it."""
        with self.changed:
            self.changed.wait_for(lambda: request_id in self.started or self.init_error is not None, init_timeout)
            took = self.started.get(request_id, time.monotonic())
            self.changed.wait_for(lambda: request_id in self.answers or self.init_error is not None,
                                  max(0.0, took + timeout - time.monotonic()))
            if self.init_error is not None:
                return self.init_error, "Unhandled"
            return self.answers.pop(request_id, None)

    def wait_drained(self, request_id: str, timeout: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: request_id in self.drained, timeout)
            self.drained.discard(request_id)

    def took(self, request_id: str) -> None:
        with self.changed:
            self.started[request_id] = time.monotonic()
            self.changed.notify_all()

    def asked_for_next(self) -> None:
        with self.changed:
            if self.first_request is None:
                self.first_request = time.monotonic()
            self.drained.update(self.answered)
            self.answered.clear()
            self.changed.notify_all()

    def answer(self, request_id: str, body: bytes, error_type: str | None) -> None:
        with self.changed:
            self.answers[request_id] = (body, error_type)
            self.finished[request_id] = time.monotonic()
            self.answered.add(request_id)
            self.changed.notify_all()

    def fail_init(self, body: bytes) -> None:
        with self.changed:
            self.init_error = body
            self.changed.notify_all()


class _Endpoints(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # awslambdaric's client keeps its connection open
    server: RuntimeAPI

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            return self._reply(404, b'{"errorType": "NotFound"}')
        self.server.asked_for_next()
        request_id, body, deadline = self.server.pending.get()
        self.server.took(request_id)
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(deadline * 1000)))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", self.server.function_arn)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(API + "/").split("/")
        if parts == ["init", "error"]:
            self.server.fail_init(body)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled")
            self.server.answer(parts[1], body, error_type if parts[2] == "error" else None)
        else:
            return self._reply(404, b'{"errorType": "NotFound"}')
        self._reply(202, b'{"status": "OK"}')

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_) -> None:
        pass


@dataclass(frozen=True)
class Execution:
    """One invocation as Lambda would report it: the answer, and the lines it logs to CloudWatch."""

    request_id: str
    invocation: Invocation
    log_lines: list[str]  # START, what the function wrote, END, REPORT (and the timeout line, if any)


class Environment:
    """One warm execution environment of one version of a function (its code, memory and timeout)."""

    def __init__(self, zip_bytes: bytes, workdir: Path, function_name: str, memory_mb: int = 256,
                 timeout_seconds: float = 30, region: str = "us-east-1",
                 account: str = "123456789012") -> None:
        self.zip_bytes, self.workdir, self.function_name = zip_bytes, workdir, function_name
        self.memory_mb, self.timeout_seconds, self.region = memory_mb, timeout_seconds, region
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.lock = threading.Lock()  # one invocation at a time, as in one Lambda environment
        self._api: RuntimeAPI | None = None
        self._process: Child | None = None
        self._started_at = 0.0
        self._generation = 0

    def invoke(self, event: object) -> Execution:
        with self.lock:
            cold = self._process is None or not self._process.running()
            if cold:
                self._start()
            assert self._api is not None and self._process is not None
            request_id = str(uuid.uuid4())
            log_path = self._process.log_path
            offset = log_path.stat().st_size
            began = time.monotonic()
            self._api.submit(request_id, json.dumps(event).encode(), time.time() + self.timeout_seconds)
            # Lambda gives the init phase 10 s of its own; the timeout counts from the handler's start.
            answer = self._api.wait(request_id, 10.0 if cold else 1.0, self.timeout_seconds)
            if answer is None:
                return self._timed_out(request_id, offset)
            self._api.wait_drained(request_id, _DRAIN_SECONDS)
            took = self._api.started.pop(request_id, began)
            duration_ms = (self._api.finished.pop(request_id, time.monotonic()) - took) * 1000
            init_ms = ((self._api.first_request or took) - self._started_at) * 1000 if cold else None
            body, error_type = answer
            invocation = Invocation(json.loads(body), error_type, _read_from(log_path, offset))
            lines = [f"START RequestId: {request_id} Version: $LATEST", *_events(invocation.log),
                     f"END RequestId: {request_id}", self._report(request_id, duration_ms, init_ms, self._peak())]
            return Execution(request_id, invocation, lines)

    def stop(self) -> None:
        with self.lock:
            self._stop()

    def _start(self) -> None:
        self._stop()
        self._generation += 1
        task_root = self.workdir / "task"
        if not task_root.exists():
            zipfile.ZipFile(io.BytesIO(self.zip_bytes)).extractall(task_root)
        self._api = RuntimeAPI(self.function_arn)
        threading.Thread(target=self._api.serve_forever, daemon=True).start()
        self._started_at = time.monotonic()
        self._process = Child("awslambdaric", [sys.executable, "-m", "awslambdaric", "agreement_handler.handler"],
                              self.workdir / f"runtime-{self._generation}.log", env={
                                  "PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
                                  "AWS_LAMBDA_RUNTIME_API": self._api.address, "LAMBDA_TASK_ROOT": str(task_root),
                                  "_HANDLER": "agreement_handler.handler",
                                  "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                                  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                                  "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": self.region,
                                  "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
                              }, cwd=task_root, memory_limit_mb=self.memory_mb)

    def _stop(self) -> None:
        if self._process is not None:
            self._process.stop(grace=2)
            self._process = None
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
            self._api = None

    def _timed_out(self, request_id: str, offset: int) -> Execution:
        """What Lambda answers and logs when a function outlives its timeout; the environment is discarded."""
        assert self._process is not None
        log, used = _read_from(self._process.log_path, offset), self._peak()
        self._stop()
        seconds = f"{self.timeout_seconds:.2f}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
        message = f"RequestId: {request_id} Error: Task timed out after {seconds} seconds"
        invocation = Invocation({"errorType": "Sandbox.Timedout", "errorMessage": message}, "Unhandled", log)
        duration_ms = self.timeout_seconds * 1000
        lines = [f"START RequestId: {request_id} Version: $LATEST", *_events(log),
                 f"{stamp} {request_id} Task timed out after {seconds} seconds",
                 f"END RequestId: {request_id}", self._report(request_id, duration_ms, None, used)]
        return Execution(request_id, invocation, lines)

    def _peak(self) -> int:
        return _peak_memory_mb(self._process.process.pid) if self._process is not None else 0

    def _report(self, request_id: str, duration_ms: float, init_ms: float | None, used: int) -> str:
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {self.memory_mb} MB\t"
                  f"Max Memory Used: {used or '?'} MB")
        return report + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else "")


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def _events(output: str) -> list[str]:
    """CloudWatch events from what the runtime wrote: one per line, where awslambdaric joins the
    lines of one error record with carriage returns so that they stay one event."""
    return [line.replace("\r", "\n") for line in output.split("\n") if line.strip()]


def _peak_memory_mb(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in MB; 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return math.ceil(int(line.split()[1]) / 1024)
    return 0
