"""Test helper: a metric's zip run by AWS's Python runtime interface client (awslambdaric).

awslambdaric is what Lambda's Python images run: it imports the handler named
`agreement_handler.handler` from the task root and serves invocations it fetches from
the Lambda Runtime API. This module serves that API's four documented endpoints on a
loopback port, because the Runtime Interface Emulator cannot be fetched here: the Go
module proxy refuses github.com/aws/aws-lambda-runtime-interface-emulator.
"""

import importlib.util
import io
import json
import os
import queue
import sys
import threading
import uuid
import zipfile
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agreement_operator.invocation import Invocation
from agreement_operator.sandbox.processes import Child, StartupFailed

API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:custom-metric-runtime-test"


class RuntimeAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Endpoints)
        self.pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answers: dict[str, tuple[bytes, str | None]] = {}
        self.answered = threading.Condition()
        self.init_error: bytes | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def invoke(self, event: object, timeout: float) -> Invocation:
        """The decoded payload and the function error type (None when the handler returned)."""
        request_id = str(uuid.uuid4())
        self.pending.put((request_id, json.dumps(event).encode()))
        with self.answered:
            done = self.answered.wait_for(lambda: request_id in self.answers or self.init_error, timeout)
        if self.init_error:
            return Invocation(json.loads(self.init_error), "Runtime.InitError")
        if not done:
            raise TimeoutError(f"the runtime did not answer within {timeout} s")
        body, error_type = self.answers.pop(request_id)
        return Invocation(json.loads(body), error_type)

    def answer(self, request_id: str, body: bytes, error_type: str | None) -> None:
        with self.answered:
            self.answers[request_id] = (body, error_type)
            self.answered.notify_all()

    def fail_init(self, body: bytes) -> None:
        with self.answered:
            self.init_error = body
            self.answered.notify_all()


class _Endpoints(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # awslambdaric's client keeps its connection open
    server: RuntimeAPI

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            return self._reply(404, b'{"errorType": "NotFound"}')
        request_id, body = self.server.pending.get()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
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


def start(zip_bytes: bytes, workdir: Path, stack: ExitStack, memory_mb: int = 256) -> RuntimeAPI:
    """Unzip the package as Lambda's task root and start awslambdaric on it."""
    if importlib.util.find_spec("awslambdaric") is None:
        raise StartupFailed("awslambdaric is not installed: pip install 'agreement-operator[test]'")
    task_root = workdir / "task"
    zipfile.ZipFile(io.BytesIO(zip_bytes)).extractall(task_root)
    api = RuntimeAPI()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    stack.callback(api.shutdown)
    runtime = Child("awslambdaric", [sys.executable, "-m", "awslambdaric", "agreement_handler.handler"],
                    workdir / "runtime.log", env={
                        "PATH": os.defpath, "LANG": "C.UTF-8", "AWS_LAMBDA_RUNTIME_API": api.address,
                        "LAMBDA_TASK_ROOT": str(task_root), "_HANDLER": "agreement_handler.handler",
                        "AWS_LAMBDA_FUNCTION_NAME": "custom-metric-runtime-test",
                        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                        "AWS_REGION": "us-east-1",
                        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/custom-metric-runtime-test",
                    }, cwd=task_root)
    stack.callback(runtime.stop)
    return api
