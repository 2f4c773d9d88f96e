"""A bounded load test of the real server on loopback: 50 concurrent run requests.

Every answer must be 200 and identical to the single request's (the runs are deterministic),
the server must keep answering during the burst, and the latency percentiles are printed (the
benchmark records them in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import concurrent.futures as cf
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from descentlab.web.server import BackgroundServer  # noqa: E402

N_REQUESTS = 50
RUN = {
    "landscape": {"name": "double_well"},
    "optimizers": [
        {"name": "gd", "hyper": {"lr": 0.01}},
        {"name": "momentum", "hyper": {"lr": 0.01}},
    ],
    "starts": [[0.05, 0.8], [-1.5, -1.0]],
    "steps": 100,
}


def test_fifty_concurrent_runs_on_loopback():
    with BackgroundServer() as srv, httpx.Client(base_url=srv.url, timeout=60.0) as client:
        ref = client.post("/api/run", json=RUN)
        assert ref.status_code == 200, ref.text
        want = ref.json()["runs"]

        def one(_: int) -> tuple[int, float, dict]:
            t = time.perf_counter()
            r = client.post("/api/run", json=RUN)
            return r.status_code, time.perf_counter() - t, r.json()

        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=N_REQUESTS) as pool:
            futures = [pool.submit(one, i) for i in range(N_REQUESTS)]
            # the server keeps answering cheap requests while the burst runs
            probe = client.get("/api/landscapes")
            results = [f.result(timeout=120) for f in futures]
        wall = time.perf_counter() - t0
        assert probe.status_code == 200
        statuses = [s for s, _, _ in results]
        assert statuses == [200] * N_REQUESTS
        for _, _, body in results:
            assert body["runs"] == want
        lat = np.array([t for _, t, _ in results]) * 1e3
        p50, p90, p99 = np.percentile(lat, [50, 90, 99])
        print(
            f"\n{N_REQUESTS} concurrent /api/run (2 optimizers x 2 starts x 100 steps): "
            f"p50 {p50:.0f} ms, p90 {p90:.0f} ms, p99 {p99:.0f} ms, max {lat.max():.0f} ms, "
            f"wall {wall:.2f} s"
        )
        # bounded: the whole burst finishes well inside the server's wall-time bound
        assert lat.max() < 20_000
