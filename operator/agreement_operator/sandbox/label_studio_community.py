"""The real Label Studio Community server (PyPI's `label-studio`, from scripts/label-studio), on loopback
with a temporary data directory: its real authentication, projects, tasks, annotations, predictions,
users and export API. It has no custom-metric endpoints (those are Enterprise's).

The owner is made by `label-studio start --username --password --user-token`; other users sign up
through the owner's invite link, as people do, and read their own token from the API.
"""

import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agreement_operator.sandbox.control_plane import setup_script
from agreement_operator.sandbox.processes import Child, StartupFailed, free_port, http_get

OWNER_EMAIL = "owner@example.com"
PASSWORD = "sandbox-Password-1"
OWNER_TOKEN = "5a6d1b0c2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"  # a legacy token, 40 hex characters
START_TIMEOUT_SECONDS = 180.0


def executable() -> Path:
    """The `label-studio` command, installed into its own cached venv if needed (about a minute, once)."""
    return setup_script("label-studio")


@dataclass
class User:
    email: str
    id: int
    token: str  # legacy API token


@dataclass
class LabelStudioCommunity:
    url: str
    process: Child
    started_in: float  # seconds from the start command to the first answer of /api/version
    owner: User = field(init=False)

    def request(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, Any]:
        """A JSON request as `token`'s user (the owner's by default): status and decoded body."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Token {token or self.owner.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode(errors="replace")

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        """The body of a 2xx answer; AssertionError with the answer otherwise."""
        status, answer = self.request(method, path, body, token)
        assert 200 <= status < 300, f"{method} {path}: {status} {str(answer)[:500]}"
        return answer

    def sign_up(self, email: str) -> User:
        """A new user of the owner's organization, signed up through the invite link, with their own token."""
        invite = self.call("GET", "/api/invite")
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = self.url + invite["invite_url"]
        browser.open(page, timeout=30).read()
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "email": email, "password": PASSWORD,
                                       "allow_newsletters": "false"}).encode()
        browser.open(urllib.request.Request(page, data=form, headers={"Referer": page}), timeout=30).read()
        token = json.loads(browser.open(self.url + "/api/current-user/token", timeout=30).read())["token"]
        who = self.call("GET", "/api/current-user/whoami", token=token)
        return User(email, who["id"], token)

    def stop(self) -> None:
        self.process.stop()


def start(workdir: Path) -> LabelStudioCommunity:
    """Label Studio on a free loopback port, its data in `workdir`, the owner signed in with OWNER_TOKEN."""
    command = executable()
    port = free_port()
    data = workdir / "label-studio-data"
    data.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(workdir), "LABEL_STUDIO_BASE_DATA_DIR": str(data),
           "LATEST_VERSION_CHECK": "false", "LANG": "C.UTF-8"}
    started = time.monotonic()
    process = Child("label-studio", [
        str(command), "start", "--data-dir", str(data), "--port", str(port), "--no-browser",
        "--internal-host", "127.0.0.1", "--username", OWNER_EMAIL, "--password", PASSWORD,
        "--user-token", OWNER_TOKEN, "--enable-legacy-api-token", "--log-level", "WARNING",
    ], workdir / "label-studio.log", env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until(lambda: http_get(f"{url}/api/version") is not None, START_TIMEOUT_SECONDS, "ready")
    except StartupFailed:
        process.stop()
        raise
    server = LabelStudioCommunity(url, process, time.monotonic() - started)
    who = server.request("GET", "/api/current-user/whoami", token=OWNER_TOKEN)[1]
    server.owner = User(OWNER_EMAIL, who["id"], OWNER_TOKEN)
    return server
