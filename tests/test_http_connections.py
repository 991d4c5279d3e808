"""One kept-alive connection per thread, against a real socket server on loopback that closes
kept-alive connections between requests, or never answers."""

import socket
import threading

import pytest

from agreement_operator.http_connections import KeptAliveConnections

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Server:
    """Answers each connection's first request, keep-alive, then closes it without saying so
    (what a server's idle timeout does); or, with `silent`, reads and never answers."""

    def __init__(self, silent: bool = False) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.silent = silent
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                if self.silent:
                    while connection.recv(65536):  # read until the client gives up
                        pass
                    continue
                connection.recv(65536)
                connection.sendall(ANSWER)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


def test_a_connection_the_server_closed_is_replaced_once(server):
    connections = KeptAliveConnections(server.url, timeout=5)
    assert connections.request("GET", "/a").status == 200
    second = connections.request("GET", "/b")  # the kept-alive connection is gone: once more, on a new one
    assert (second.status, second.body, server.connections) == (200, b"{}", 2)


def test_a_timeout_is_not_sent_again():
    silent = Server(silent=True)
    try:
        with pytest.raises(TimeoutError):
            KeptAliveConnections(silent.url, timeout=0.3).request("POST", "/deploy", b"{}")
        assert silent.connections == 1
    finally:
        silent.close()


def test_each_thread_has_a_connection_of_its_own(server):
    connections = KeptAliveConnections(server.url, timeout=5)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(connections.request("GET", "/").status))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200, 200] and server.connections == 3
