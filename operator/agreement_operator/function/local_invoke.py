"""Run a packaged metric's handler in a separate Python process, as Lambda would.

User code never runs in the caller's process: the zip is unpacked into a temporary
directory and a fresh interpreter (isolated, no site-packages, no inherited
environment) imports `agreement_handler` from it, with a time and memory limit.
"""

import io
import json
import os
import resource as rlimit
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from agreement_operator.function.invocation import Invocation

_RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])  # Lambda puts the task root first on the path
import agreement_handler
with open(sys.argv[2]) as f:
    event = json.load(f)
try:
    outcome = {"payload": agreement_handler.handler(event, None)}
except Exception as error:  # what Lambda reports as a FunctionError
    outcome = {"functionError": "Unhandled",
               "payload": {"errorMessage": str(error), "errorType": type(error).__name__}}
with open(sys.argv[3], "w") as f:
    json.dump(outcome, f)
"""


def invoke(zip_bytes: bytes, event: object, timeout_seconds: float = 30, memory_mb: int = 256) -> Invocation:
    with tempfile.TemporaryDirectory(prefix="agreement-invoke-") as workdir:
        root = Path(workdir)
        task_root = root / "task"
        zipfile.ZipFile(io.BytesIO(zip_bytes)).extractall(task_root)
        (root / "event.json").write_text(json.dumps(event))
        result_path = root / "result.json"
        try:
            completed = subprocess.run(
                [sys.executable, "-I", "-S", "-c", _RUNNER, str(task_root), str(root / "event.json"), str(result_path)],
                cwd=workdir, env={"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
                capture_output=True, text=True, timeout=timeout_seconds,
                preexec_fn=lambda: _limit_memory(memory_mb), check=False,
            )
        except subprocess.TimeoutExpired:
            # What Lambda answers for a timeout.
            return Invocation({"errorType": "Sandbox.Timedout",
                               "errorMessage": f"the metric did not answer within {timeout_seconds} s"}, "Unhandled")
        log = completed.stdout + completed.stderr
        if not result_path.exists():
            return Invocation({"errorType": "Runtime.ExitError", "errorMessage":
                               f"the handler process exited with code {completed.returncode} before answering "
                               f"(memory limit {memory_mb} MB): {log[-500:].strip()}"}, "Unhandled", log)
        outcome = json.loads(result_path.read_text())
    return Invocation(outcome["payload"], outcome.get("functionError"), log)


def _limit_memory(memory_mb: int) -> None:
    limit = max(memory_mb, 64) * 1024 * 1024
    rlimit.setrlimit(rlimit.RLIMIT_AS, (limit, limit))
