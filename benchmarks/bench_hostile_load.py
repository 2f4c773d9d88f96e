"""Loopback load with hostile clients mixed in: 60 clients against the real server (issue 13).

The server (``descentlab play`` in a process of its own, so the clients do not share its GIL;
127.0.0.1 only; default limits: 2 compute slots and a light lane of 2) is hit by 60 client
threads at once, each sending ``--per-client`` requests
drawn in a fixed pattern:

* ``run``: a 2-optimizer race (2 starts x 100 steps) — heavy lane;
* ``meta`` / ``landscapes``: what the page loads — light lane;
* ``bad``: a hostile body (seed 2^70, dim 10^12, n_wells 3000, one_cycle shorter than the run,
  invalid UTF-8, malformed JSON) — refused before any compute.

Bounded in count (60 x per-client requests) and in time (every request has a client timeout).
Reported: status counts, and latency p50/p95 per kind. The run passes when there is no 500,
every hostile body got a 4xx, and the light lane stayed fast while the compute slots were full.
503 "busy" (with Retry-After) is an allowed answer to a ``run`` under this load.

Run: ``python benchmarks/bench_hostile_load.py [--clients 60] [--per-client 5] [--write]``
(``--write`` appends the table to benchmarks/RESULTS.md). The machine is shared: read the
ratios (light vs heavy lane), not the absolute numbers.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

from descentlab.web.server import free_port, url_for

RUN = {
    "landscape": {"name": "double_well"},
    "optimizers": [
        {"name": "gd", "hyper": {"lr": 0.01}},
        {"name": "momentum", "hyper": {"lr": 0.01}},
    ],
    "starts": [[0.05, 0.8], [-1.5, -1.0]],
    "steps": 100,
}
BAD: list[bytes] = [
    json.dumps({"landscape": {"name": "gaussian_wells", "params": {"seed": 2**70}}}).encode(),
    json.dumps({"landscape": {"name": "quadratic_bowl", "params": {"dim": 10**12}}}).encode(),
    json.dumps({"landscape": {"name": "gaussian_wells", "params": {"n_wells": 3000}}}).encode(),
    json.dumps(
        {**RUN, "schedule": {"name": "one_cycle", "params": {"max_lr": 0.1, "total_steps": 10}}}
    ).encode(),
    b'{"landscape": {"name": "\xff\xfe"}}',
    b'{"landscape": {"name": ',
]
PATTERN = ["run", "meta", "bad", "run", "landscapes", "bad"]


def _one(client: httpx.Client, kind: str, i: int) -> tuple[str, int, float]:
    t = time.perf_counter()
    if kind == "run":
        r = client.post("/api/run", json=RUN)
    elif kind == "meta":
        r = client.get("/api/meta")
    elif kind == "landscapes":
        r = client.get("/api/landscapes")
    else:
        body = BAD[i % len(BAD)]
        path = "/api/run" if b"optimizers" in body else "/api/surface"
        r = client.post(path, content=body, headers={"content-type": "application/json"})
    return kind, r.status_code, time.perf_counter() - t


def _client(url: str, cid: int, per_client: int) -> list[tuple[str, int, float]]:
    out = []
    with httpx.Client(base_url=url, timeout=60.0) as client:
        for k in range(per_client):
            kind = PATTERN[(cid + k) % len(PATTERN)]
            try:
                out.append(_one(client, kind, cid * per_client + k))
            except httpx.HTTPError as exc:
                out.append((kind, -1, float("nan")))
                print(f"client {cid}: {type(exc).__name__}: {exc}")
    return out


@contextlib.contextmanager
def play_server() -> Iterator[str]:
    """``descentlab play`` on a free loopback port in a child process; yields its URL."""
    port = free_port("127.0.0.1")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "descentlab", "play", "--port", str(port), "--no-browser"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = url_for("127.0.0.1", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "api/meta", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {proc.stderr.read().decode()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=60)
    ap.add_argument("--per-client", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="append the table to RESULTS.md")
    args = ap.parse_args()
    with play_server() as url:
        with httpx.Client(base_url=url, timeout=60.0) as c:  # warm caches once
            c.get("/api/meta"), c.get("/api/landscapes"), c.post("/api/run", json=RUN)
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=args.clients) as pool:
            futs = [pool.submit(_client, url, i, args.per_client) for i in range(args.clients)]
            results = [x for f in futs for x in f.result(timeout=600)]
        wall = time.perf_counter() - t0

    statuses = collections.Counter(s for _, s, _ in results)
    by_kind: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
    for kind, status, sec in results:
        by_kind[kind].append((status, sec))
    lines = [
        f"{args.clients} clients x {args.per_client} requests = {len(results)} requests in "
        f"{wall:.1f} s; statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
        "",
        "| kind | n | statuses | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for kind in ("run", "meta", "landscapes", "bad"):
        rows = by_kind.get(kind, [])
        lat = np.array([s for _, s in rows]) * 1e3
        st = collections.Counter(s for s, _ in rows)
        p50, p95 = np.nanpercentile(lat, [50, 95]) if len(lat) else (float("nan"),) * 2
        st_text = ", ".join(f"{k}: {v}" for k, v in sorted(st.items()))
        lines.append(f"| {kind} | {len(rows)} | {st_text} | {p50:.0f} | {p95:.0f} |")
    text = "\n".join(lines)
    print(text)
    assert 500 not in statuses and -1 not in statuses, statuses
    assert all(400 <= s < 500 for s, _ in by_kind["bad"]), "a hostile body was not refused"
    if args.write:
        res = Path(__file__).with_name("RESULTS.md")
        cmd = (
            f"python benchmarks/bench_hostile_load.py --clients {args.clients} "
            f"--per-client {args.per_client} --write"
        )
        res.write_text(
            res.read_text().rstrip("\n")
            + "\n\n## Loopback load with hostile clients (`benchmarks/bench_hostile_load.py`)\n\n"
            + f"Command: `{cmd}` (1 torch thread, shared 2-core machine, busy: read the light "
            "lane against the heavy one, not absolute numbers).\n\n" + text + "\n"
        )


if __name__ == "__main__":
    main()
