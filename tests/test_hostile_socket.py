"""The real server (uvicorn on 127.0.0.1) against clients that misbehave at the socket level.

Raw sockets send what an HTTP library would not: a body shorter than its ``Content-Length``, a
body trickled byte by byte, a body far over the size bound. Each must get a clear 4xx within the
body-read bound and leave the server (and, where the body was read whole, the connection)
healthy. Then the lanes: "busy" is a 503 with ``Retry-After`` and is told apart from "over
time", the page's metadata is answered while every compute slot is held, and a 500 leaves the
keep-alive connection open.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from descentlab.web.limits import Limits
from descentlab.web.server import BackgroundServer

BODY_SECONDS = 1.0


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(Limits(body_seconds=BODY_SECONDS)) as srv:
        yield srv


def _read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response from ``sock``: (status, headers, body)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]


def _connect(srv) -> socket.socket:
    return socket.create_connection((srv.host, srv.port), timeout=10.0)


def _head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(3.0)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_short_body_gets_408_within_the_bound_and_the_connection_is_freed(server):
    with _connect(server) as s:
        t0 = time.monotonic()
        s.sendall(_head("/api/run", 1000) + b'{"steps": 1')  # 11 of the 1000 bytes declared
        status, headers, body = _read_response(s)
        took = time.monotonic() - t0
        assert status == 408 and headers.get("connection") == "close"
        assert "11 bytes of the 1000 declared" in json.loads(body)["error"]
        assert BODY_SECONDS * 0.9 <= took < BODY_SECONDS + 3.0
        assert _closed(s)


def test_trickled_body_gets_408(server):
    with _connect(server) as s:
        s.sendall(_head("/api/run", 200))
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < BODY_SECONDS + 2.0:
                s.sendall(b" ")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = _read_response(s)
        assert status == 408 and "not received within" in json.loads(body)["error"]


def test_2mb_body_gets_413_after_draining_and_the_connection_is_reused(server):
    big = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    with _connect(server) as s:
        sender = threading.Thread(target=s.sendall, args=(_head("/api/run", len(big)) + big,))
        sender.start()
        status, headers, body = _read_response(s)
        sender.join(10.0)
        assert status == 413 and "65536 bytes" in json.loads(body)["error"]
        assert headers.get("connection") != "close"
        # the same connection carries the next request
        s.sendall(b"GET /api/meta HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = _read_response(s)
        assert status == 200 and "size_limits" in json.loads(body)


def test_declared_huge_body_gets_413_before_any_byte_is_sent(server):
    with _connect(server) as s:
        s.sendall(_head("/api/run", 100 * 1024 * 1024))
        status, headers, body = _read_response(s)
        assert status == 413 and headers.get("connection") == "close"
        assert "body" == json.loads(body)["field"]


def test_invalid_utf8_is_a_400_on_a_live_connection(server):
    bad = b'{"landscape": {"name": "\xff"}}'
    with _connect(server) as s:
        s.sendall(_head("/api/surface", len(bad)) + bad)
        status, _, body = _read_response(s)
        assert status == 400 and "UTF-8" in json.loads(body)["error"]
        s.sendall(b"GET /api/landscapes HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(s)[0] == 200


def test_a_500_keeps_the_keep_alive_connection(monkeypatch):
    from descentlab.web import service

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "critical", broken)
    with BackgroundServer() as srv:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        body = json.dumps({"landscape": {"name": "himmelblau"}})
        conn.request("POST", "/api/critical-points", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        payload = json.loads(r.read())
        assert r.status == 500 and payload["id"] in payload["error"]
        sock = conn.sock
        conn.request("GET", "/api/landscapes")
        r = conn.getresponse()
        r.read()
        assert r.status == 200 and conn.sock is sock  # the same connection, not a new one
        conn.close()


def test_busy_is_503_with_retry_after_and_the_light_lane_still_answers(monkeypatch):
    from descentlab.web import service

    release = threading.Event()

    def slow(*args, **kwargs):
        release.wait(8.0)
        return {"critical_points": [], "critical_points_source": "found", "complete": False}

    monkeypatch.setattr(service, "critical", slow)
    limits = Limits(max_concurrent=1, queue_seconds=0.5, wall_seconds=10.0)
    with BackgroundServer(limits) as srv:
        body = json.dumps({"landscape": {"name": "himmelblau"}})
        holder = http.client.HTTPConnection(srv.host, srv.port, timeout=20)
        holder.request("POST", "/api/critical-points", body, {"Content-Type": "application/json"})
        time.sleep(0.3)  # the holder now has the only compute slot
        try:
            other = http.client.HTTPConnection(srv.host, srv.port, timeout=20)
            t0 = time.monotonic()
            other.request(
                "POST", "/api/critical-points", body, {"Content-Type": "application/json"}
            )
            r = other.getresponse()
            err = json.loads(r.read())["error"]
            assert r.status == 503 and r.getheader("Retry-After") is not None
            assert "busy" in err and "wall-time" not in err
            assert time.monotonic() - t0 < 3.0
            # page-load endpoints have their own lane
            t0 = time.monotonic()
            other.request("GET", "/api/meta")
            r = other.getresponse()
            r.read()
            assert r.status == 200 and time.monotonic() - t0 < 3.0
        finally:
            release.set()
        r = holder.getresponse()
        r.read()
        assert r.status == 200
