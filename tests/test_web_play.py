"""``descentlab play`` through a subprocess: prints its URL, serves the page and the API, stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


def _cli(*args: str, **kw):
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_play_help_has_examples():
    r = _cli("play", "--help")
    assert r.returncode == 0
    assert "--port" in r.stdout and "--no-browser" in r.stdout and "Examples:" in r.stdout


def test_play_bad_port_is_one_line_exit_2():
    r = _cli("play", "--port", "70000", "--no-browser")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "between 0 and 65535" in r.stderr


def test_play_taken_port_is_one_line_exit_2():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _cli("play", "--port", str(port), "--no-browser")
    assert r.returncode == 2
    assert f"127.0.0.1:{port}" in r.stderr and "--port 0" in r.stderr


def test_play_serves_on_loopback_and_prints_the_url():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", "play", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "http://" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"play exited early: {proc.stderr.read()}")
        url = line.split()[line.split().index("playground:") + 1]
        assert url.startswith("http://127.0.0.1:")
        for _ in range(100):  # uvicorn binds right after printing
            try:
                r = httpx.get(url + "api/landscapes", timeout=10)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200 and any(e["name"] == "double_well" for e in r.json())
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "descentlab playground" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
