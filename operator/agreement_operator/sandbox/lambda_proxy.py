"""A proxy in front of moto's Lambda that behaves more like the real service: the sandbox's AWS endpoint.

* Invoke runs the function's code for real (local_lambda), instead of moto's canned answers;
  `throttle_invocations(n)` makes the next n answer 429, a reply no real code gives.
* Quotas, answered like Lambda (429, TooManyRequestsException, "Rate exceeded", Retry-After): a token
  bucket for control-plane calls (15 req/s) and one for GetFunction (100 req/s), per account and region
  (aws_accounts.py): `buckets` are the home account's and region's, every other pair gets its own at the same
  rates, or at those `set_quotas` gives it.
* Lifecycle (lambda_lifecycle): moto makes every function Active at once, forever; here a
  function stays Pending after CreateFunction and InProgress after an update for
  `pending_seconds`, goes Inactive after `idle_seconds` without an invoke, and an Invoke of an
  Inactive function fails and restores it, as Lambda does.
* Counts every call by operation, every throttled one, and the Invokes of each function.
* Faults (aws_faults.py): chosen answers for chosen operations of Lambda, CloudWatch Logs and CloudWatch,
  for a while (`proxy.faults.inject(...)`).

    proxy = LambdaProxy(moto_url, invoker, control_rate=15, get_rate=100, pending_seconds=1)
    proxy.start()  # proxy.url is the endpoint to give the operator

The sandbox's own proxy reads AGREEMENT_SANDBOX_IDLE_SECONDS (off when unset, as in `demo`) and
AGREEMENT_SANDBOX_RESTORE_SECONDS (default 2): see aws_emulator.

Calls of other services (IAM, STS, CloudWatch Logs) pass through to moto unchanged.
"""

import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agreement_operator.sandbox import aws_faults
from agreement_operator.sandbox.aws_accounts import DEFAULT_ACCOUNT, Accounts
from agreement_operator.sandbox.lambda_lifecycle import Lifecycle
from agreement_operator.sandbox.local_lambda import LocalLambda

_OPERATIONS = [
    ("POST", re.compile(r"^/2015-03-31/functions/?$"), "CreateFunction"),
    ("GET", re.compile(r"^/2015-03-31/functions/([^/?]+)/?(\?.*)?$"), "GetFunction"),
    ("PUT", re.compile(r"^/2015-03-31/functions/([^/?]+)/code"), "UpdateFunctionCode"),
    ("PUT", re.compile(r"^/2015-03-31/functions/([^/?]+)/configuration"), "UpdateFunctionConfiguration"),
    ("DELETE", re.compile(r"^/2015-03-31/functions/([^/?]+)"), "DeleteFunction"),
    ("POST", re.compile(r"^/2015-03-31/functions/([^/?]+)/invocations"), "Invoke"),
    ("POST", re.compile(r"^/2017-03-31/tags/"), "TagResource"),
    ("DELETE", re.compile(r"^/2017-03-31/tags/"), "UntagResource"),
    ("GET", re.compile(r"^/2017-03-31/tags/"), "ListTags"),
]
# Which quota an operation counts against: GetFunction has its own, Invoke none here; the rest are control plane.
_QUOTA = {"GetFunction": "get", "Invoke": None}


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.last = rate, rate, time.monotonic()
        self.guard = threading.Lock()

    def take(self) -> bool:
        with self.guard:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class LambdaProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, invoker: LocalLambda | None = None, control_rate: float | None = None,
                 get_rate: float | None = None, pending_seconds: float = 0.0, idle_seconds: float | None = None,
                 restore_seconds: float = 2.0, code_pending_seconds: float = 0.0, host: str = "127.0.0.1",
                 region: str = "us-east-1") -> None:
        """`host`: where it answers (a node's bridge, for pods); `region`: the home region, with moto's default
        account the one `buckets` count for."""
        super().__init__((host, 0), _Forward)
        self.host = host
        self.upstream = upstream.rstrip("/")
        self.invoker = invoker
        self.invocations_to_throttle = 0
        self.buckets = {"control": TokenBucket(control_rate) if control_rate else None,
                        "get": TokenBucket(get_rate) if get_rate else None}
        self.home = (DEFAULT_ACCOUNT, region)
        self.accounts = Accounts()
        self.elsewhere: dict[tuple[str, str], dict[str, TokenBucket | None]] = {}  # other accounts' and regions'
        self.throttled_in: Counter[tuple[str, str]] = Counter()  # 429s by (account, region)
        self.calls_in: Counter[tuple[str, str]] = Counter()  # Lambda calls by (account, region)
        self.lifecycle = Lifecycle(pending_seconds, idle_seconds, restore_seconds, code_pending_seconds)
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.invokes: Counter[str] = Counter()  # Invoke calls by function name, whatever they were answered
        self.get_times: list[float] = []  # when each GetFunction arrived (time.time())
        self.faults = aws_faults.Faults()  # answers given instead of AWS's, for a while (the tests' fault kit)
        self.guard = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server_address[1]}"

    def start(self) -> "LambdaProxy":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        """A client that went away (an operator stopped by a test) is expected; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def throttle_invocations(self, count: int) -> None:
        """The next `count` Invoke calls answer 429 TooManyRequestsException, as Lambda does over its quota."""
        with self.guard:
            self.invocations_to_throttle = count

    def reset_counts(self) -> None:
        with self.guard:
            self.calls_in.clear()
            self.throttled_in.clear()
            self.faults.seen.clear()
            self.calls.clear()
            self.throttled.clear()
            self.invokes.clear()

    def set_quotas(self, account: str, region: str, control: float | None, get: float | None) -> None:
        """The rates of one account and region's quotas (None: unlimited)."""
        with self.guard:
            self.elsewhere[(account, region)] = {"control": TokenBucket(control) if control else None,
                                                 "get": TokenBucket(get) if get else None}

    def _buckets(self, where: tuple[str, str]) -> dict[str, TokenBucket | None]:
        if where == self.home:
            return self.buckets
        with self.guard:
            if where not in self.elsewhere:
                self.elsewhere[where] = {quota: TokenBucket(bucket.rate) if bucket else None
                                         for quota, bucket in self.buckets.items()}
            return self.elsewhere[where]

    def admit(self, operation: str, name: str | None = None, where: tuple[str, str] | None = None) -> bool:
        """Whether the call fits the quota of its account and region (`where`; None: the home ones)."""
        where = where or self.home
        quota = _QUOTA.get(operation, "control")
        bucket = self._buckets(where)[quota] if quota else None
        allowed = bucket is None or bucket.take()
        with self.guard:
            self.calls_in[where] += 1
            if not allowed:
                self.throttled_in[where] += 1
            if operation == "Invoke" and self.invocations_to_throttle > 0:
                self.invocations_to_throttle -= 1
                allowed = False
            self.calls[operation] += 1
            if operation == "Invoke" and name:
                self.invokes[name] += 1
            if operation == "GetFunction":
                self.get_times.append(time.time())
            if not allowed:
                self.throttled[operation] += 1
        return allowed

    def answered(self, operation: str, name: str | None, body: dict) -> dict:
        """Lambda's answer to an accepted call, with the state its lifecycle is in."""
        if not name:
            return body
        if operation in ("CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration"):
            self.lifecycle.changed(operation, name)
        if operation in ("CreateFunction", "GetFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration"):
            self.lifecycle.describe(name, body.get("Configuration", body))
        return body


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LambdaProxy

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else None
        self._reply(*self._answer(payload))

    def _answer(self, payload: bytes | None) -> tuple[int, bytes, dict]:
        operation, name = _operation(self.command, self.path, payload)
        if operation is None:
            service, other = aws_faults.other_operation(self.path, self.headers, payload)
            if other:
                self.server.faults.seen[other] += 1
                if fault := self.server.faults.take(other):
                    return aws_faults.answer(str(service), fault)
        elif fault := self.server.faults.take(operation):
            with self.server.guard:
                self.server.calls[operation] += 1
            return aws_faults.answer("lambda", fault)
        where = self.server.accounts.of(self.headers.get("Authorization"), self.server.home[1])
        if operation and not self.server.admit(operation, name, where):
            if operation == "Invoke" and name and self.server.invoker is not None:
                self.server.invoker.count(name, "Throttles")
            # Lambda's 429 says when to come back: a Retry-After header and retryAfterSeconds in the body.
            status, body, headers = _error(429, "TooManyRequestsException", "Rate exceeded",
                                           Reason="CallerRateLimitExceeded", retryAfterSeconds="1")
            return status, body, {**headers, "Retry-After": "1"}
        if operation == "Invoke" and name and (refusal := self.server.lifecycle.admit_invoke(name)):
            return _error(refusal.status, refusal.error_type, refusal.message)
        if operation == "DeleteFunction" and name:
            self.server.lifecycle.deleted(name)
        invoker = self.server.invoker
        if invoker is not None and operation in ("CreateFunction", "UpdateFunctionCode"):
            invoker.remember_code(payload)
        if invoker is not None and operation == "Invoke" and name:
            wanted = {key: self.headers[key] for key in ("X-Amz-Invocation-Type", "X-Amz-Log-Type")
                      if key in self.headers}
            status, headers, body = invoker.invoke(name, payload, wanted)
            return status, body, headers
        request = urllib.request.Request(self.server.upstream + self.path, data=payload, method=self.command,
                                         headers={key: value for key, value in self.headers.items()
                                                  if key.lower() not in ("host", "content-length")})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, headers, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, dict(error.headers), error.read()
        if operation is None and status == 200:
            self.server.accounts.learn(body)
        if operation and 200 <= status < 300 and body[:1] == b"{":
            body = json.dumps(self.server.answered(operation, name, json.loads(body))).encode()
        return status, body, headers

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def _reply(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_) -> None:
        pass


def _error(status: int, error_type: str, message: str, **fields: str) -> tuple[int, bytes, dict]:
    """An error answer as Lambda's REST API gives it: the type in a header, the message in the body."""
    body = json.dumps({"Type": "User", "message": message, **fields}).encode()
    return status, body, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}


def _operation(method: str, path: str, payload: bytes | None) -> tuple[str | None, str | None]:
    for verb, pattern, operation in _OPERATIONS:
        if verb == method and (match := pattern.match(path)):
            if operation == "CreateFunction":
                return operation, json.loads(payload or b"{}").get("FunctionName")
            name = match.group(1) if pattern.groups else None
            return operation, urllib.parse.unquote(name) if name else None
    return None, None
