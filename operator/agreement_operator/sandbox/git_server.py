"""A Git server on loopback that speaks smart HTTP, as GitHub or GitLab do: each request handed to Git's own
`git http-backend` (a CGI program). Flux's source-controller clones from it (go-git speaks only smart HTTP),
and a person pushes to it with plain `git push`."""

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agreement_operator.sandbox.processes import StartupFailed

_BACKEND_TIMEOUT_SECONDS = 60


def _backend() -> str:
    git = shutil.which("git")
    if git is None:
        raise StartupFailed("the Git server needs git (Debian: apt-get install git)")
    exec_path = subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    return str(Path(exec_path) / "git-http-backend")


class GitServer:
    """Bare repositories under `root`, served at `url` + `/<name>.git`; anyone on loopback may push."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        backend, projects = _backend(), str(root)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._backend()

            def do_POST(self) -> None:
                self._backend()

            def _backend(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", os.defpath), "GIT_PROJECT_ROOT": projects,
                    "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command, "PATH_INFO": path,
                    "QUERY_STRING": query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
                    # Git protocol v2, and request bodies the client gzipped, reach the backend as in CGI.
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                }
                answer = subprocess.run([backend], input=body, env=env, capture_output=True,
                                        timeout=_BACKEND_TIMEOUT_SECONDS)
                head, _, payload = answer.stdout.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode("latin-1").split("\r\n") if ":" in line]
                status = next((value.strip() for name, value in headers if name.lower() == "status"), "200 OK")
                self.send_response(int(status.split()[0]))
                for name, value in headers:
                    if name.lower() != "status":
                        self.send_header(name, value.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a clone is a dozen requests; the tests read the repositories, not this log

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, name="git-server", daemon=True).start()

    def create(self, name: str) -> str:
        """A new bare repository that takes pushes over HTTP; its clone URL."""
        repository = self.root / f"{name}.git"
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(repository)], check=True)
        subprocess.run(["git", "-C", str(repository), "config", "http.receivepack", "true"], check=True)
        return f"{self.url}/{name}.git"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


class WorkingCopy:
    """A clone of a repository of the Git server, in `path`, that commits and pushes as a person would."""

    def __init__(self, url: str, path: Path) -> None:
        self.url, self.path = url, path
        path.mkdir(parents=True, exist_ok=True)
        self._git("init", "--quiet", "--initial-branch=main")
        self._git("remote", "add", "origin", url)

    def _git(self, *args: str) -> str:
        identity = ["-c", "user.name=GitOps test", "-c", "user.email=gitops@example.com"]
        return subprocess.run(["git", *identity, *args], cwd=self.path, capture_output=True, text=True,
                              check=True).stdout.strip()

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        """Write each file (relative path: its text; None: delete it), commit, push to main; the commit's sha."""
        for name, text in files.items():
            target = self.path / name
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self._git("add", "--all")
        self._git("commit", "--quiet", "--message", message)
        self._git("push", "--quiet", "origin", "main")
        return self.head()

    def head(self) -> str:
        return self._git("rev-parse", "HEAD")
