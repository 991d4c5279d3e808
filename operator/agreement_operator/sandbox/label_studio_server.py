"""A local Label Studio API server: the custom metric endpoints as Label Studio publishes them.

For `dev`, `demo` and the tests, where no Label Studio Enterprise is at hand. It implements,
over HTTP, exactly what the operator may meet (api.labelstud.io, "Projects > Metrics > Custom"):

    GET /api/version                               {release, edition: Enterprise}  (no token needed)
    GET /api/current-user/whoami                   the key's user
    POST /api/token/refresh/                       {refresh} -> {access}  (personal access tokens)
    POST /api/projects/, GET /api/projects/{id}/   a project to deploy into
    GET|POST /api/projects/{id}/custom-function    {code, status}; POST answers 200, 202, 204 or 500
    GET|POST /api/projects/{id}/aws-custom-function, gcp-custom-function  (same function)
    POST /api/projects/{id}/check-function         200, or 400 with validation_errors
    GET /api/projects/{id}/custom-function-logs    start_date, end_date (%Y-%m-%d), limit (100)
    GET|POST /api/projects/{id}/metricparam/       metric_name, additional_params; POST of nothing: 204
    GET /api/projects/{id}/stats/total_agreement   {total_agreement}, or 204 without data: computed from the
                                                   tasks given (add_task) by running the deployed code in a
                                                   separate process, as Label Studio would

Authentication: `Authorization: Token <legacy token>`, or `Bearer <access>` where the access
token (a JWT that expires after `access_seconds`) came from the personal access token. A POST
that changes the code answers 202 and the function stays Pending for `activation_seconds`,
then Active. The code is never run: it is checked with `ast`, as a parser would.

Faults for tests: `fail_next(route, status, body)`, `fail_activation(project, log_line)`, `hang(seconds)`,
`revoke_tokens()`,
`stop()` and `start()` again on the same port. `requests` counts every call by route.
"""

import ast
import datetime
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agreement_operator.function import local_invoke, packaging
from agreement_operator.sandbox import label_studio_tokens

_ROUTES = [
    ("refresh", re.compile(r"^/api/token/refresh/?$")),
    ("version", re.compile(r"^/api/version/?$")),
    ("whoami", re.compile(r"^/api/current-user/whoami/?$")),
    ("projects", re.compile(r"^/api/projects/?$")),
    ("project", re.compile(r"^/api/projects/(\d+)/?$")),
    ("function", re.compile(r"^/api/projects/(\d+)/(?:custom|aws-custom|gcp-custom)-function$")),
    ("check-function", re.compile(r"^/api/projects/(\d+)/check-function$")),
    ("function-logs", re.compile(r"^/api/projects/(\d+)/(?:custom|aws-custom)-function-logs$")),
    ("metricparam", re.compile(r"^/api/projects/(\d+)/metricparam/$")),
    ("total-agreement", re.compile(r"^/api/projects/(\d+)/stats/total_agreement/?$")),
]
_NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}
RELEASE = "2.31.0"  # the Enterprise release this server stands in for


@dataclass
class Project:
    id: int
    title: str
    code: str = ""
    status: str = "NotDeployed"
    active_at: float = 0.0  # while Pending: when the function becomes Active
    failure: str | None = None  # the next activation fails with this log line
    metric_name: str | None = None
    additional_params: dict | None = None
    logs: list[dict] = field(default_factory=list)
    tasks: list[list[dict]] = field(default_factory=list)  # each task's annotations


class LabelStudioServer:
    """The state, and an HTTP server in a thread that can be stopped and started again on its port."""

    def __init__(self, activation_seconds: float = 1.0, access_seconds: float = 300.0) -> None:
        self.activation_seconds = activation_seconds
        self.access_seconds = access_seconds
        self.legacy_token = secrets.token_hex(20)
        self._signing_key = secrets.token_bytes(32)
        self.personal_access_token = self._jwt("refresh", 200 * 365 * 86400)
        self.projects: dict[int, Project] = {}
        self.requests: Counter[str] = Counter()  # "POST function" -> count
        self.project_requests: dict[int, Counter[str]] = {}  # the same, per project
        self._faults: dict[str, list[tuple[int, dict]]] = {}
        self.hang_until, self.hanging, self.tokens_revoked = 0.0, 0, False
        self.guard = threading.RLock()
        self.port = 0
        self._http: ThreadingHTTPServer | None = None
        self.connections: set[socket.socket] = set()  # open client connections, closed by stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LabelStudioServer":
        self._http = _Server(("127.0.0.1", self.port), _Handler)
        self._http.label_studio = self  # type: ignore[attr-defined]
        self.port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down as if the host went away: no listener, and every kept-alive connection cut."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self.guard:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()

    # -- what tests and the sandbox set up ------------------------------------------------------

    def add_project(self, title: str = "Project") -> int:
        with self.guard:
            project = Project(id=max(self.projects, default=0) + 1, title=title)
            self.projects[project.id] = project
            return project.id

    def add_task(self, project: int, annotations: list[dict]) -> None:
        """A task of the project, with its annotations, for the agreement the project computes."""
        with self.guard:
            self.projects[project].tasks.append(annotations)

    def write_by_hand(self, project: int, code: str) -> None:
        """Code a person typed into the project's settings, deployed and Active."""
        with self.guard:
            self.projects[project].code, self.projects[project].status = code, "Active"

    def fail_next(self, route: str, status: int, body: dict | None = None, times: int = 1) -> None:
        """The next `times` calls of `route` ("POST function", "POST check-function", ...) answer `status`."""
        with self.guard:
            self._faults.setdefault(route, []).extend([(status, body or {"detail": "Internal server error"})] * times)

    def revoke_tokens(self, revoked: bool = True) -> None:
        """Every token refused with 401 (a key revoked), or accepted again (restored)."""
        with self.guard:
            self.tokens_revoked = revoked

    def hang(self, seconds: float) -> None:
        """Every request in the next `seconds` waits until they are over before it is answered (a Label Studio
        that hangs); `hanging` counts the requests waiting now."""
        with self.guard:
            self.hang_until = time.monotonic() + seconds

    def fail_activation(self, project: int, log_line: str) -> None:
        """The next deployment of `project` ends Failed, with `log_line` in its logs."""
        with self.guard:
            self.projects[project].failure = log_line

    def add_log(self, project: int, message: str) -> None:
        with self.guard:
            self.projects[project].logs.append({"timestamp": _now(), "message": message})

    def function(self, project: int) -> Project:
        with self.guard:
            self._settle(self.projects[project])
            return self.projects[project]

    # -- behaviour -------------------------------------------------------------------------------

    def answer(self, method: str, path: str, authorization: str, body: dict) -> tuple[int, dict | None]:
        url = urllib.parse.urlsplit(path)
        found = next(((route, match) for route, pattern in _ROUTES if (match := pattern.match(url.path))), None)
        if found is None:
            return 404, {"detail": "Not found."}
        route, match = found
        key = f"{method} {route}"
        self._wait_while_hanging()
        with self.guard:
            self.requests[key] += 1
            if route not in ("refresh", "version", "whoami", "projects"):
                self.project_requests.setdefault(int(match.group(1)), Counter())[key] += 1
            if self._faults.get(key):
                return self._faults[key].pop(0)
        if route == "refresh":
            return self._refresh(method, body)
        if route == "version":  # as Label Studio answers it, without a token
            return 200, {"release": RELEASE, "edition": "Enterprise"}
        if self.tokens_revoked or (refused := self._authenticate(authorization)) is not None:
            return 401, {"detail": "Invalid token."} if self.tokens_revoked else refused
        if route == "whoami":
            return 200, {"id": 1, "email": "owner@example.com"}
        if route == "projects":
            return (201, {"id": self.add_project(str(body.get("title") or "New Project"))}) if method == "POST" \
                else (405, {"detail": f'Method "{method}" not allowed.'})
        with self.guard:
            project = self.projects.get(int(match.group(1)))
            if project is None:
                return 404, {"detail": "No Project matches the given query."}
            self._settle(project)
            handler = getattr(self, f"_{method.lower()}_{route.replace('-', '_')}", None)
            if handler is None:
                return 405, {"detail": f'Method "{method}" not allowed.'}
            return handler(project, body, urllib.parse.parse_qs(url.query))

    def _wait_while_hanging(self) -> None:
        with self.guard:
            wait = self.hang_until - time.monotonic()
            self.hanging += wait > 0
        if wait > 0:
            time.sleep(wait)
            with self.guard:
                self.hanging -= 1

    def _get_project(self, project: Project, *_) -> tuple[int, dict]:
        return 200, {"id": project.id, "title": project.title}

    def _get_function(self, project: Project, *_) -> tuple[int, dict]:
        return 200, {"code": project.code, "status": project.status}

    def _post_function(self, project: Project, body: dict, _) -> tuple[int, dict | None]:
        code = body.get("code")
        if not isinstance(code, str) or not code:
            return 400, _validation_error("code", "This field is required.")
        if problem := _code_problem(code):
            return 500, {"detail": f"Error updating function: {problem}"}
        if code == project.code and project.status in ("Active", "Pending"):
            return 204, None
        project.code = code
        self._log(project, "Deploying the custom metric function")
        if self.activation_seconds <= 0 and project.failure is None:
            project.status = "Active"
            return 200, {}
        project.status, project.active_at = "Pending", time.monotonic() + self.activation_seconds
        return 202, {}

    def _post_check_function(self, project: Project, body: dict, _) -> tuple[int, dict]:
        code = body.get("code")
        if not isinstance(code, str) or not code:
            return 400, _validation_error("code", "This field is required.")
        if problem := _code_problem(code):
            return 400, _validation_error("code", problem)
        return 200, {}

    def _get_function_logs(self, project: Project, _, query: dict) -> tuple[int, dict]:
        start, end = (query.get(name, [""])[0] for name in ("start_date", "end_date"))
        limit = int(query.get("limit", ["100"])[0])
        lines = [line for line in project.logs
                 if (not start or line["timestamp"][:10] >= start) and (not end or line["timestamp"][:10] <= end)]
        return 200, {"logs": lines[-limit:] if limit > 0 else []}

    def _get_metricparam(self, project: Project, *_) -> tuple[int, dict]:
        # The 2026-08 reference: `allowed` a read-only boolean, `agreement_threshold` an integer or null
        # (deprecated).
        return 200, {"allowed": True, "metric_name": project.metric_name, "metric_params": project.additional_params,
                     "agreement_threshold": None, "max_additional_annotators_assignable": None}

    def _post_metricparam(self, project: Project, body: dict, _) -> tuple[int, dict | None]:
        changes = {key: body[key] for key in ("metric_name", "additional_params") if key in body}
        if not changes:
            return 204, None  # nothing given to update
        if "metric_name" in changes and (not isinstance(changes["metric_name"], str) or not changes["metric_name"]):
            return 400, _validation_error("metric_name", "This field may not be blank.")
        project.metric_name = changes.get("metric_name", project.metric_name)
        project.additional_params = changes.get("additional_params", project.additional_params)
        return self._get_metricparam(project)

    def _get_total_agreement(self, project: Project, *_) -> tuple[int, dict | None]:
        """The mean task agreement (the mean over each task's pairs; one annotation: 1.0), by the deployed code."""
        if project.status != "Active" or not any(project.tasks):
            return 204, None
        pairs = [(task, first, second) for task, annotations in enumerate(project.tasks)
                 for first, second in itertools.combinations(annotations, 2)]
        batch = local_invoke.invoke(packaging.build_zip(project.code), {"pairs": [
            {"annotation_1": pair[1], "annotation_2": pair[2]} for pair in pairs]}).payload
        scored = batch.get("scores") or [] if isinstance(batch, dict) else []
        scores: dict[int, list[float]] = {}
        for pair, score in zip(pairs, scored, strict=False):
            if isinstance(score, int | float):
                scores.setdefault(pair[0], []).append(float(score))
        means = [sum(scores[task]) / len(scores[task]) if task in scores else 1.0
                 for task, annotations in enumerate(project.tasks) if len(annotations) == 1 or task in scores]
        return (200, {"total_agreement": sum(means) / len(means)}) if means else (204, None)

    def _settle(self, project: Project) -> None:
        if project.status != "Pending" or time.monotonic() < project.active_at:
            return
        if project.failure is not None:
            project.status = "Failed"
            self._log(project, project.failure)
            project.failure = None
        else:
            project.status = "Active"
            self._log(project, "The custom metric function is active")

    def _log(self, project: Project, message: str) -> None:
        project.logs.append({"timestamp": _now(), "message": message})

    # -- authentication ----------------------------------------------------------------------------

    def _authenticate(self, authorization: str) -> dict | None:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme == "Token":
            return None if hmac.compare_digest(credential, self.legacy_token) else {"detail": "Invalid token."}
        if scheme == "Bearer":
            return None if self._valid_jwt(credential, "access") else {
                "detail": "Given token not valid for any token type", "code": "token_not_valid"}
        return _NOT_AUTHENTICATED

    def _refresh(self, method: str, body: dict) -> tuple[int, dict]:
        if method != "POST":
            return 405, {"detail": f'Method "{method}" not allowed.'}
        refresh = body.get("refresh")
        if not isinstance(refresh, str) or not refresh:
            return 400, {"refresh": ["This field is required."]}
        if self.tokens_revoked or not self._valid_jwt(refresh, "refresh"):
            return 401, {"detail": "Token is invalid or expired", "code": "token_not_valid"}
        return 200, {"access": self._jwt("access", self.access_seconds)}

    def _jwt(self, token_type: str, lifetime: float) -> str:
        return label_studio_tokens.signed(self._signing_key, token_type, lifetime)

    def _valid_jwt(self, token: str, token_type: str) -> bool:
        return label_studio_tokens.valid(self._signing_key, token, token_type)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _validation_error(name: str, message: str) -> dict:
    """Label Studio's error format for a request it refuses."""
    return {"status_code": 400, "detail": "Validation error", "validation_errors": {name: [message]}}


def _code_problem(code: str) -> str | None:
    """What stops Label Studio from using the code: it must parse and define agreement() at the top level."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return f"the code does not compile: {error}"
    if not any(isinstance(node, ast.FunctionDef) and node.name == "agreement" for node in tree.body):
        return "the code must define agreement(annotation_1, annotation_2, per_label=False)"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A connection cut by stop() is expected; say nothing."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self._state.guard:
            self._state.connections.add(self.connection)

    def finish(self) -> None:
        with self._state.guard:
            self._state.connections.discard(self.connection)
        super().finish()

    @property
    def _state(self) -> LabelStudioServer:
        return self.server.label_studio  # type: ignore[attr-defined]

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._reply(400, {"detail": "JSON parse error"})
        status, answer = self._state.answer(self.command, self.path, self.headers.get("Authorization", ""),
                                       body if isinstance(body, dict) else {})
        self._reply(status, answer)

    do_GET = do_POST = _handle

    def _reply(self, status: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Token realm="api"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_) -> None:
        pass
