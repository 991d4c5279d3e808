"""Label Studio's published project API for custom metrics: the calls the operator makes, and what each answer means.

Plain HTTP over the standard library (the Label Studio SDK would bring numpy, pandas,
OpenCV and NLTK into the image). Every answer becomes a value or a failures.* failure:

    401              -> PermanentFailure LabelStudioUnauthorized (names the credential)
    403              -> PermanentFailure LabelStudioForbidden
    404              -> PermanentFailure ProjectNotFound
    400 on the code  -> PermanentFailure CodeRejected (Label Studio's own words)
    429, 5xx, timeouts, refused connections -> RetryableFailure LabelStudioUnavailable (backoff)
"""

import base64
import binascii
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agreement_operator import failures
from agreement_operator.function.log_errors import LogLine
from agreement_operator.http_connections import KeptAliveConnections

# POST custom-function: 200 updated, 202 accepted (activation pending), 204 nothing changed.
UPDATED, ACCEPTED, UNCHANGED = 200, 202, 204
REFRESH_PATH = "/api/token/refresh/"
# An access token this close to its expiry is refreshed before use rather than after a 401.
_REFRESH_MARGIN_SECONDS = 15.0
_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ProjectFunction:
    """The project's custom metric as Label Studio reports it."""

    code: str
    status: str


def is_personal_access_token(api_key: str) -> bool:
    """Personal access tokens are JWTs (refresh tokens); legacy tokens are opaque hex strings."""
    parts = api_key.split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(_b64url(parts[0]))
    except (ValueError, binascii.Error):
        return False
    return isinstance(header, dict) and "alg" in header


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(jwt: str) -> dict:
    """A JWT's claims, read without verifying it: only to refresh in time and to tell token kinds apart."""
    try:
        claims = json.loads(_b64url(jwt.split(".")[1]))
    except (ValueError, IndexError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _expiry(jwt: str) -> float | None:
    exp = _claims(jwt).get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class LabelStudioProjects:
    """One Label Studio, one credential; a kept-alive connection per thread."""

    def __init__(self, url: str, api_key: str, timeout: float = _TIMEOUT_SECONDS,
                 on_answer: Callable[[str, int], None] | None = None) -> None:
        """`on_answer(endpoint, status)` hears of every answer (status 0: Label Studio was unreachable)."""
        self.url = url.rstrip("/")
        self._base_path = urllib.parse.urlsplit(url).path.rstrip("/")
        self._connections = KeptAliveConnections(url, timeout)
        self._api_key = api_key
        self.personal_access_token = is_personal_access_token(api_key)
        self._access: str | None = None
        self._renew_at = 0.0  # time.time() after which the access token is refreshed before use
        self._access_guard = threading.Lock()
        self._edition: tuple[str, str] | tuple[()] | None = None  # () when Label Studio does not say
        self._on_answer = on_answer

    # -- the custom metric of a project -------------------------------------------------------

    def read_function(self, project: int) -> ProjectFunction:
        body = self._call("GET", f"/api/projects/{project}/custom-function", project, "read the custom metric")
        status = body.get("status")
        return ProjectFunction(code=body.get("code") or "", status=status if isinstance(status, str) else "Error")

    def check_code(self, project: int, code: str) -> None:
        """Label Studio's own validation; CodeRejected with its message when it refuses the code."""
        self._call("POST", f"/api/projects/{project}/check-function", project, "check the code", {"code": code})

    def deploy(self, project: int, code: str) -> int:
        """Create or update the project's function: UPDATED, ACCEPTED or UNCHANGED."""
        status, _ = self._exchange("POST", f"/api/projects/{project}/custom-function", project,
                                   "deploy the code", {"code": code})
        return status

    def metric_name(self, project: int) -> str | None:
        body = self._call("GET", f"/api/projects/{project}/metricparam/", project, "read the agreement metric")
        name = body.get("metric_name")
        return name if isinstance(name, str) else None

    def select_metric(self, project: int, metric_name: str) -> None:
        self._call("POST", f"/api/projects/{project}/metricparam/", project, "select the agreement metric",
                   {"metric_name": metric_name})

    def total_agreement(self, project: int) -> float | dict | None:
        """The agreement the project computes with its metric: a number, or label -> number; None (204)
        while it has no data."""
        status, body = self._exchange("GET", f"/api/projects/{project}/stats/total_agreement", project,
                                      "read the project's agreement")
        value = body.get("total_agreement") if status == 200 else None
        return value if isinstance(value, int | float | dict) and not isinstance(value, bool) else None

    def function_logs(self, project: int, start_date: str, limit: int = 100) -> list[LogLine]:
        """The function's recent log lines (start_date: %Y-%m-%d), oldest first."""
        query = urllib.parse.urlencode({"start_date": start_date, "limit": limit})
        body = self._call("GET", f"/api/projects/{project}/custom-function-logs?{query}", project,
                          "read the function's logs")
        return log_lines(body)

    # -- a project's data, for `agreement-operator score --project` --------------------------------

    def project(self, project: int) -> dict:
        return self._call("GET", f"/api/projects/{project}", project, "read the project")

    def users(self) -> dict[object, str]:
        """User id -> e-mail address, of the key's organization."""
        body = self._call("GET", "/api/users/", None, "list the users")
        return {user["id"]: str(user.get("email") or user.get("username") or user["id"])
                for user in body.get("items") or [] if isinstance(user, Mapping) and "id" in user}

    def predictions(self, project: int) -> list[Mapping]:
        body = self._call("GET", f"/api/predictions/?project={project}", project, "list the predictions")
        return [item for item in body.get("items") or [] if isinstance(item, Mapping)]

    def export(self, project: int, timeout: float = 600.0) -> list:
        """The project's tasks as a JSON export snapshot with user details and full predictions."""
        options = {"annotations__completed_by": {"only_id": False}, "predictions": {"only_id": False}}
        made = self._call("POST", f"/api/projects/{project}/exports/", project, "export the project",
                          {"title": "agreement-operator score", "serialization_options": options})
        snapshot, deadline = made, time.monotonic() + timeout
        while snapshot.get("status") not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(1.0)
            snapshot = self._call("GET", f"/api/projects/{project}/exports/{made['id']}", project,
                                  "read the export's status")
        if snapshot.get("status") != "completed":
            raise failures.RetryableFailure("LabelStudioUnavailable", f"the export of project {project} ended "
                                            f"{snapshot.get('status', 'unfinished')}; try again")
        body = self._call("GET", f"/api/projects/{project}/exports/{made['id']}/download?exportType=JSON", project,
                          "download the export")
        return body.get("items") or []

    # -- the connection ------------------------------------------------------------------------

    def edition(self) -> tuple[str, str] | None:
        """(edition, release) from GET /api/version, which needs no token; asked once per connection.
        None when this Label Studio does not say (an older release, or a proxy in front of it)."""
        if self._edition is None:
            status, body, _ = self._send("GET", "/api/version", None, None)
            if status == 200 and isinstance(body.get("edition"), str):
                self._edition = (body["edition"], str(body.get("release") or "?"))
            elif status == 200 or status == 404:
                self._edition = ()
            else:
                raise_for(status, body, "read its version", None, self.personal_access_token)
        return self._edition or None

    def require_custom_metrics(self) -> None:
        """EditionUnsupported when this Label Studio has no custom agreement metrics (Community)."""
        found = self.edition()
        if found is not None and found[0].lower() == "community":
            raise failures.PermanentFailure(
                "EditionUnsupported",
                f"custom agreement metrics need Label Studio Enterprise; {self.url} is Label Studio Community "
                f"{found[1]}: point LABEL_STUDIO_URL at Label Studio Enterprise, or deploy the metric as a Lambda "
                "function of its own (remove spec.labelStudio)",
            )

    def whoami(self) -> dict:
        """The user of the key: a route every Label Studio has, to tell a wrong key from a missing route."""
        return self._call("GET", "/api/current-user/whoami", None, "tell who the key belongs to")

    # -- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, project: int | None, what: str, payload: dict | None = None) -> dict:
        return self._exchange(method, path, project, what, payload)[1]

    def _exchange(self, method: str, path: str, project: int | None, what: str,
                  payload: dict | None = None) -> tuple[int, dict]:
        status, body, headers = self._send(method, path, payload, self._authorization())
        if status == 401 and self.personal_access_token:  # the access token expired early: refresh once
            self._access = None
            status, body, headers = self._send(method, path, payload, self._authorization())
        if status == 404 and project is not None and path != f"/api/projects/{project}":
            self._explain_not_found(project, path, body)
        raise_for(status, body, what, project, self.personal_access_token, headers)
        return status, body

    def _explain_not_found(self, project: int, path: str, body: Mapping) -> None:
        """A 404 on a project's route: a wrong key, a missing project, or a route this Label Studio lacks."""
        self.whoami()  # LabelStudioUnauthorized when the key is wrong (some routes answer 404 before 401)
        self._call("GET", f"/api/projects/{project}", project, "read the project")  # ProjectNotFound
        route = path.split("?", 1)[0]
        raise failures.PermanentFailure(
            "CustomMetricAPINotFound",
            f"Label Studio at {self.url} has project {project} but no {route} (404: {detail(body)}): custom "
            "agreement metrics need Label Studio Enterprise with custom metrics enabled; check LABEL_STUDIO_URL",
        )

    def _authorization(self) -> str:
        if not self.personal_access_token:
            return f"Token {self._api_key}"
        with self._access_guard:  # one refresh at a time, shared by every thread
            if self._access is None or time.time() >= self._renew_at:
                self._access = self._refreshed_access()
                now, expiry = time.time(), _expiry(self._access)
                # A little before it expires (a tenth of its life, at most the margin); no exp: on a 401 only.
                self._renew_at = expiry - min(_REFRESH_MARGIN_SECONDS, (expiry - now) / 10) if expiry else float("inf")
            return f"Bearer {self._access}"

    def _refreshed_access(self) -> str:
        status, body, headers = self._send("POST", REFRESH_PATH, {"refresh": self._api_key}, None)
        if _claims(self._api_key).get("token_type") == "access" and status in (400, 401):
            raise failures.PermanentFailure(
                "LabelStudioUnauthorized",
                "LABEL_STUDIO_API_KEY holds an access token (a JWT of token_type access, which expires within "
                "minutes), not a personal access token: in Label Studio, open Account & Settings > Personal Access "
                "Token and create one (its JWT has token_type refresh; the operator gets access tokens from it), "
                "store it in the operator's Secret (key apiKey) and restart the operator",
            )
        if status == 401 or (status == 400 and "refresh" in body):
            raise failures.PermanentFailure(
                "LabelStudioUnauthorized",
                f"Label Studio refused the personal access token in LABEL_STUDIO_API_KEY ({status}: "
                f"{detail(body)}); it may have expired or been revoked: create a new one under Account & "
                "Settings, store it in the operator's Secret (key apiKey) and restart the operator",
            )
        raise_for(status, body, "refresh the access token", None, True, headers)
        access = body.get("access")
        if not isinstance(access, str) or not access:
            raise failures.RetryableFailure("LabelStudioUnavailable",
                                          f"Label Studio answered {REFRESH_PATH} without an access token")
        return access

    def _send(self, method: str, path: str, payload: dict | None,
              authorization: str | None) -> tuple[int, dict, Mapping[str, str]]:
        headers = {"Accept": "application/json", "User-Agent": "agreement-operator"}
        if authorization:
            headers["Authorization"] = authorization
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        try:
            answer = self._connections.request(method, self._base_path + path, data, headers)
        except (http.client.HTTPException, OSError) as error:
            self._heard(method, path, 0)
            raise failures.RetryableFailure(
                "LabelStudioUnavailable", f"cannot reach Label Studio at {self.url}: {error}; retrying"
            ) from error
        self._heard(method, path, answer.status)
        return answer.status, _json(answer.body, answer.headers.get("Content-Type", "")), answer.headers

    def _heard(self, method: str, path: str, status: int) -> None:
        if self._on_answer is not None:
            self._on_answer(endpoint(method, path), status)


def endpoint(method: str, path: str) -> str:
    """The endpoint a request went to, without the project id, other ids or query: `POST custom-function`,
    `GET exports/ID/download` (a bounded set, for Prometheus labels)."""
    route = path.split("?", 1)[0].strip("/")
    parts = route.split("/")
    if len(parts) >= 3 and parts[:2] == ["api", "projects"] and parts[2].isdigit():
        parts = parts[3:] or ["project"]
    else:
        parts = route.removeprefix("api/").split("/")
    return f"{method} {'/'.join('ID' if part.isdigit() else part for part in parts)}"


def _json(text: bytes, content_type: str = "") -> dict:
    """The answer's JSON; for anything else (a web page, a proxy's error) only what it is, never its text."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        kind = content_type.split(";", 1)[0].strip() or "an unknown type"
        return {"detail": f"an answer of {len(text):,} bytes of {kind}, not JSON"}
    return body if isinstance(body, dict) else {"items": body}


def detail(body: Mapping) -> str:
    """Label Studio's own explanation in an error answer: DRF's detail, its validation_errors, or field errors."""
    parts = []
    for key in ("detail", "error", "message", "validation_errors"):
        value = body.get(key)
        if isinstance(value, Mapping):
            value = "; ".join(f"{field}: {_text(problem)}" for field, problem in value.items())
        if value:
            parts.append(_text(value))
    if not parts:  # a serializer's errors: {"code": ["This field is required."]}
        parts = [f"{field}: {_text(problem)}" for field, problem in body.items() if isinstance(problem, list)]
    text = "; ".join(dict.fromkeys(parts)) or json.dumps(body)[:300]
    return text if len(text) <= 1000 else text[:997] + "..."


def _text(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def raise_for(status: int, body: Mapping, what: str, project: int | None, personal_access_token: bool,
              headers: Mapping[str, str] | None = None) -> None:
    """Nothing for a 2xx answer; otherwise the failure it stands for."""
    retry_after = (headers or {}).get("Retry-After")
    if 200 <= status < 300:
        return
    where = f" in project {project}" if project is not None else ""
    if status == 401:
        kind = "personal access token" if personal_access_token else "legacy token (sent as 'Authorization: Token')"
        raise failures.PermanentFailure(
            "LabelStudioUnauthorized",
            f"Label Studio refused LABEL_STUDIO_API_KEY, a {kind}, when asked to {what}{where} (401: "
            f"{detail(body)}); store a valid key in the operator's Secret (key apiKey) and restart the operator",
        )
    if status == 403:
        raise failures.PermanentFailure(
            "LabelStudioForbidden",
            f"the Label Studio user of LABEL_STUDIO_API_KEY may not {what}{where} (403: {detail(body)}); "
            "give that user a role that manages the project (Administrator, Manager or Owner)",
        )
    if status == 404 and project is not None:
        raise failures.PermanentFailure(
            "ProjectNotFound",
            f"Label Studio has no project {project} (404: {detail(body)}); set spec.labelStudio.project to the "
            "id in the project's URL (/projects/ID/). Custom metrics also need Label Studio Enterprise",
        )
    if status == 400:
        raise failures.PermanentFailure("CodeRejected", f"Label Studio refused to {what}{where}: {detail(body)}")
    if status == 429 or status >= 500:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise failures.RetryableFailure(
            "LabelStudioUnavailable", f"Label Studio answered {status} when asked to {what}{where}: "
            f"{detail(body)}; retrying", delay)
    raise failures.PermanentFailure(
        "LabelStudioRequestRejected", f"Label Studio answered {status} when asked to {what}{where}: {detail(body)}")


def log_lines(body: Mapping) -> list[LogLine]:
    """Log entries from a logs answer. The published reference leaves its shape open: a list, or an
    object holding one (logs, events, results or data), of strings or objects with a message."""
    entries: object = body.get("items")
    for key in ("logs", "events", "results", "data"):
        if entries is None and isinstance(body.get(key), list):
            entries = body[key]
    lines = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            lines.append(LogLine("", entry))
        elif isinstance(entry, Mapping):
            message = entry.get("message") or entry.get("msg") or entry.get("text") or ""
            stamp = entry.get("timestamp") or entry.get("time") or ""
            lines.append(LogLine(_timestamp(stamp), str(message)))
    return lines


def _timestamp(value: object) -> str:
    """RFC 3339 text for an ISO string or CloudWatch's milliseconds since the epoch."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value / 1000))
    return str(value)
