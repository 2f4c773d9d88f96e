"""Playground server speed: a 4-optimizer race, a 100x100 basin map, and 50 concurrent requests.

Targets (issue 7): a run of 4 optimizers x 1 start x 500 steps in under 50 ms of server time;
a 100x100 basin map of 500 steps in under 2 s. Server time is what the endpoint reports in
``server_ms`` (parse, engine, diagnosis, shaping; not the HTTP transfer). The race is also split
into its parts (engine alone, diagnosis) so the numbers say where the time goes.

Run: ``python benchmarks/bench_web.py [--repeats 7] [--threads 1 2] [--no-load]``.
Medians over repeats; the machine is shared, so read ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import time

import numpy as np
import torch

from descentlab.web import service
from descentlab.web.limits import Limits
from descentlab.web.models import BasinRequest, RunRequest

RACE = {
    "landscape": {"name": "tilted_double_well"},
    "optimizers": [
        {"name": "gd", "hyper": {"lr": 0.01}},
        {"name": "momentum", "hyper": {"lr": 0.01}},
        {"name": "adam", "hyper": {"lr": 0.05}},
        {"name": "rmsprop", "hyper": {"lr": 0.01}},
    ],
    "starts": [[0.2, -0.5]],
    "steps": 500,
}
BASIN = {
    "landscape": {"name": "tilted_double_well"},
    "optimizers": [{"name": "gd", "hyper": {"lr": 0.01}}],
    "n": 100,
    "steps": 500,
}
LOAD = {
    "landscape": {"name": "double_well"},
    "optimizers": [
        {"name": "gd", "hyper": {"lr": 0.01}},
        {"name": "momentum", "hyper": {"lr": 0.01}},
    ],
    "starts": [[0.05, 0.8], [-1.5, -1.0]],
    "steps": 100,
}


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)


def _torch_floor(L, starts: np.ndarray) -> None:
    """The floor: the same 4 x 500 steps as a plain torch.optim loop (no stop rules, no records)."""
    rules = [
        (torch.optim.SGD, {"lr": 0.01}),
        (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
        (torch.optim.Adam, {"lr": 0.05}),
        (torch.optim.RMSprop, {"lr": 0.01}),
    ]
    for cls, kw in rules:
        x = torch.tensor(starts, dtype=torch.float64, requires_grad=True)
        opt = cls([x], **kw)
        for _ in range(500):
            opt.zero_grad()
            L.fn(x).sum().backward()
            opt.step()


def bench_race(repeats: int) -> dict[str, float]:
    limits = Limits()
    req = RunRequest.model_validate(RACE)
    L = service.build_landscape(req.landscape, limits)
    specs = service._resolve_optimizers(req.optimizers, limits)
    starts = np.asarray(RACE["starts"], dtype=float)
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import run

    race = run(L, specs, starts, 500, progress=False)
    server = [service.run_race(req, limits)["server_ms"] for _ in range(repeats)]
    engine, _ = _median_ms(lambda: run(L, specs, starts, 500, progress=False), repeats)
    floor, _ = _median_ms(lambda: _torch_floor(L, starts), repeats)
    diag, _ = _median_ms(lambda: [diagnose(tr, L) for tr in race.values()], repeats)
    body, _ = _median_ms(lambda: json.dumps(service.run_race(req, limits)), max(3, repeats // 2))
    return {
        "server_ms": statistics.median(server),
        "server_min_ms": min(server),
        "engine_ms": engine,
        "torch_floor_ms": floor,
        "diagnose_ms": diag,
        "run_plus_json_ms": body,
    }


def bench_basin(repeats: int) -> dict[str, float]:
    limits = Limits()
    req = BasinRequest.model_validate(BASIN)
    server = [service.basin_map(req, limits)["server_ms"] for _ in range(repeats)]
    return {"server_ms": statistics.median(server), "server_min_ms": min(server)}


def bench_load(n: int = 50) -> dict[str, float]:
    import httpx

    from descentlab.web.server import BackgroundServer

    with BackgroundServer() as srv, httpx.Client(base_url=srv.url, timeout=120.0) as client:
        assert client.post("/api/run", json=LOAD).status_code == 200

        def one(_: int) -> tuple[int, float]:
            t = time.perf_counter()
            r = client.post("/api/run", json=LOAD)
            return r.status_code, (time.perf_counter() - t) * 1e3

        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=n) as pool:
            res = list(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    lat = np.array([t for _, t in res])
    ok = sum(s == 200 for s, _ in res)
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    return {
        "ok": ok,
        "n": n,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": lat.max(),
        "wall_s": wall,
        "req_per_s": n / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-load", action="store_true", help="skip the loopback load test")
    args = ap.parse_args()
    service.warm_up()
    print(f"torch {torch.__version__}, repeats {args.repeats} (medians)")
    for th in args.threads:
        torch.set_num_threads(th)
        r = bench_race(args.repeats)
        print(
            f"threads={th}  race 4 opt x 1 start x 500 steps: server {r['server_ms']:.1f} ms "
            f"(min {r['server_min_ms']:.1f}; engine {r['engine_ms']:.1f}, plain torch.optim "
            f"loop {r['torch_floor_ms']:.1f}, diagnose {r['diagnose_ms']:.1f}; with JSON "
            f"encoding {r['run_plus_json_ms']:.1f})  target < 50 ms"
        )
        b = bench_basin(max(3, args.repeats // 2))
        print(
            f"threads={th}  basin 100x100 x 500 steps (gd): server {b['server_ms']:.0f} ms "
            f"(min {b['server_min_ms']:.0f})  target < 2000 ms"
        )
    if not args.no_load:
        torch.set_num_threads(1)  # what `descentlab play` sets
        ld = bench_load()
        print(
            f"load: {ld['n']} concurrent /api/run (2 opt x 2 starts x 100 steps) on loopback: "
            f"{ld['ok']}/{ld['n']} ok, p50 {ld['p50_ms']:.0f} ms, p90 {ld['p90_ms']:.0f} ms, "
            f"p99 {ld['p99_ms']:.0f} ms, max {ld['max_ms']:.0f} ms, wall {ld['wall_s']:.2f} s "
            f"({ld['req_per_s']:.1f} req/s)"
        )


if __name__ == "__main__":
    main()
