"""Child processes that never outlive their owner, and free loopback ports."""

import ctypes
import os
import resource
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class StartupFailed(RuntimeError):
    """A sandbox component did not become healthy; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, token: str | None = None) -> str | None:
    """The body of a 2xx answer, or None. TLS is not verified: loopback, self-signed certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.read().decode(errors="replace")
    except OSError:
        return None


def eventually(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.3) -> T:
    """What `probe` returns once it returns something (truthy), polling every `every` seconds; an
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the child when its parent dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Child:
    """A process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict | None = None,
                 cwd: Path | None = None, memory_limit_mb: int | None = None) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")

        def prepare() -> None:
            _die_with_parent()
            if memory_limit_mb is not None:
                limit = memory_limit_mb * 1024 * 1024
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        self.process = subprocess.Popen(
            list(argv), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True, preexec_fn=prepare,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        if not self._log.closed:  # still running (a stopped child's log is closed, and whole)
            self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return text[-chars:]

    def wait_until(self, healthy: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StartupFailed(
                    f"{self.name} exited with code {self.process.returncode} before {what}:\n{self.log_tail()}")
            if healthy():
                return
            time.sleep(0.2)
        raise StartupFailed(f"{self.name} did not become {what} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
