"""One kept-alive HTTP(S) connection per thread to one server: the plain HTTP clients of the operator
(its own apiserver calls, Label Studio's API) use no client library.

A server may close a kept-alive connection between two requests; the request is then sent once
more on a new connection. A timeout is not retried: the server may have acted on the request,
and a second wait would double the time the caller is held.
"""

import http.client
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class KeptAliveConnections:
    def __init__(self, url: str, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        """`url`: the server (http or https, with its port if not the scheme's); `tls`: for https (None: the
        system's CA store)."""
        parts = urllib.parse.urlsplit(url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._timeout, self._tls = timeout, tls
        self._local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Answer:
        """The server's answer; http.client.HTTPException or OSError when there is none."""
        try:
            return self._send(method, path, body, headers)
        except TimeoutError:
            raise
        except (http.client.HTTPException, OSError):
            return self._send(method, path, body, headers)  # once more, on a new connection

    def _send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str] | None) -> Answer:
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Answer(response.status, response.read(), dict(response.headers))
        except (http.client.HTTPException, OSError):
            connection.close()
            self._local.connection = None
            raise

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                                         context=self._tls)
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection
