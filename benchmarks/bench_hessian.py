"""descentlab.nn vs PyHessian on the same models and data, side by side.

For each case (same weights, same data, one full batch, float32 as PyHessian uses):

* time and Hessian-vector products (HVPs) to reach ``λmax`` to 1e-3 relative:
  - *practical*: each tool with its own stopping rule (ours: Lanczos, residual ``≤ 1e-3·|θ|``;
    PyHessian: power iteration, relative change ``< 1e-3``), and the true error it ends with;
  - *oracle*: the first iteration whose estimate is within 1e-3 of the reference (an
    iteration-count comparison independent of stopping rules);
* ``λmin`` from the same Lanczos run (PyHessian's power iteration returns the eigenvalue of
  largest modulus: at a saddle with ``|λmin| > λmax`` it reports ``λmin`` as its "top"
  eigenvalue);
* the cost of one HVP as a multiple of one gradient (same data), for ours and for PyHessian;
* PyHessian's time to the *true* 1e-3: its power iteration re-run for exactly the number of
  products after which its estimate first came within 1e-3 of the reference;
* ``λmin``/``λmax`` cost: the products and time of one Lanczos run for both ends over one for
  the top alone.

Cases: ``mlp``, ``cnn``, ``saddle`` (small), ``mlp85k`` (2-290-290-2 tanh, 85,842 parameters,
2000 points) and ``resnet18`` (a CIFAR-style ResNet-18, 11.2M parameters, on synthetic
3x32x32 images built here — nothing downloaded; meant for ``--device cuda``, where peak GPU
memory is reported too). Default: all but ``resnet18`` (``--cases`` to choose).

The reference ``λmax``/``λmin`` come from a float64 copy (dense ``eigvalsh`` when small, else
Lanczos to 1e-10). Times are medians over ``--repeats`` runs (different random start vectors).

Run from the repository root. PyHessian lives only in a separate, throwaway environment that
sees the project's own (``python -m venv --system-site-packages bench-venv`` from the
project's environment, then ``bench-venv/bin/pip install --no-deps pyhessian``)::

    bench-venv/bin/python benchmarks/bench_hessian.py --threads 1

Without PyHessian importable the script says so and reports our side only. On a machine with
CUDA, ``--device cuda`` (or the default ``auto``) runs everything on the GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch
from torch import nn

from descentlab.nn import HessianOperator, lanczos
from descentlab.nn.spectrum import LanczosProcess

try:
    import pyhessian  # noqa: F401
    from pyhessian import hessian as PyHessian

    _ph_module = sys.modules["pyhessian.hessian"]
    HAVE_PYHESSIAN = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_PYHESSIAN = False

REL = 1e-3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def case_mlp(device: torch.device) -> tuple[str, nn.Module, Any, Any]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2000, 2, generator=g)
    y = (X[:, 0] * X[:, 1] > 0).long()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    return "mlp 2-64-64-2 tanh, 2000 pts, random init", net.to(device), X.to(device), y.to(device)


def case_cnn(device: torch.device) -> tuple[str, nn.Module, Any, Any]:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(512, 1, 12, 12, generator=g)
    y = torch.randint(0, 10, (512,), generator=g)
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 12 * 12, 10),
    )
    return "cnn 2 conv(8)+linear, 512 imgs 12x12", net.to(device), X.to(device), y.to(device)


def case_saddle(device: torch.device) -> tuple[str, nn.Module, Any, Any]:
    """All hidden units equal (zero) with the optimal output bias: an exact saddle with
    |λmin| > λmax (inputs scaled by 3)."""
    g = torch.Generator().manual_seed(2)
    n = 400
    t = torch.rand(n, generator=g) * torch.pi
    lab = torch.arange(n) % 2
    X = torch.stack([torch.cos(t) + lab, torch.sin(t) * (1 - 2 * lab) + 0.5 * lab], 1)
    X = 3 * (X + 0.1 * torch.randn(n, 2, generator=g))
    net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # balanced classes: zero output bias is optimal
    return (
        "planted saddle: mlp 2-32-2 at its symmetric point",
        net.to(device),
        X.to(device),
        lab.to(device),
    )


def case_mlp85k(device: torch.device) -> tuple[str, nn.Module, Any, Any]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2000, 2, generator=g)
    y = (X[:, 0] * X[:, 1] > 0).long()
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(2, 290), nn.Tanh(), nn.Linear(290, 290), nn.Tanh(), nn.Linear(290, 2)
    )
    return "mlp 2-290-290-2 tanh, 2000 pts, random init", net.to(device), X.to(device), y.to(device)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Any) -> Any:
        out = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(out)) + self.short(x))


def resnet18(n_classes: int = 10) -> nn.Module:
    """ResNet-18 for 32x32 inputs (He et al. 2016, CIFAR variant: 3x3 stem, no max-pool)."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 3, 1, 1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
    ]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_classes)]
    return nn.Sequential(*layers)


RESNET_BATCH = 128


def case_resnet18(device: torch.device) -> tuple[str, nn.Module, Any, Any]:
    g = torch.Generator().manual_seed(3)
    X = torch.randn(RESNET_BATCH, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (RESNET_BATCH,), generator=g)
    torch.manual_seed(3)
    net = resnet18().eval()  # running statistics: the same function for every tool
    return (
        f"ResNet-18 (CIFAR), {RESNET_BATCH} synthetic 3x32x32 images, eval mode",
        net.to(device),
        X.to(device),
        y.to(device),
    )


CASES = {
    "mlp": case_mlp,
    "cnn": case_cnn,
    "saddle": case_saddle,
    "mlp85k": case_mlp85k,
    "resnet18": case_resnet18,
}
REF_STEPS = 600


def reference(net: nn.Module, X: Any, y: Any) -> tuple[float, float]:
    net64 = _copy64(net)
    H = HessianOperator(net64, nn.CrossEntropyLoss(), (X.double(), y))
    if H.n <= 2500:
        ev = torch.linalg.eigvalsh(H.dense(max_n=2500).cpu())
        return float(ev[-1]), float(ev[0])
    r = lanczos(H, k=1, tol=1e-10, max_steps=min(H.n, REF_STEPS))
    return r.lambda_max, r.lambda_min


def _copy64(net: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(net).double()


def ours(net: nn.Module, X: Any, y: Any, lmax_ref: float, seed: int, device: torch.device) -> dict:
    peak_reset(device)
    sync(device)
    t0 = time.perf_counter()
    Ht = HessianOperator(net, nn.CrossEntropyLoss(), (X, y))
    rt = lanczos(Ht, k=1, which="top", tol=REL, seed=seed)
    sync(device)
    t_top = time.perf_counter() - t0
    peak = peak_mib(device)
    del Ht
    sync(device)
    t0 = time.perf_counter()
    H = HessianOperator(net, nn.CrossEntropyLoss(), (X, y))
    r = lanczos(H, k=1, which="both", tol=REL, seed=seed)
    sync(device)
    t_both = time.perf_counter() - t0
    # oracle-stopped iteration count (top Ritz value vs the reference)
    Ho = HessianOperator(net, nn.CrossEntropyLoss(), (X, y), method=H.objective.method)
    gen = torch.Generator().manual_seed(seed)
    v0 = torch.randn(Ho.n, generator=gen, dtype=torch.float64).to(Ho.dtype).to(device)
    proc = LanczosProcess(Ho.matvec, Ho.n, v0, min(Ho.n, 300), keep_products=False)
    oracle = None
    while not proc.finished:
        proc.step()
        top = float(torch.linalg.eigvalsh(proc.tridiagonal())[-1])
        if abs(top - lmax_ref) <= REL * abs(lmax_ref):
            oracle = proc.n_matvec
            break
    return {
        "lambda_max": rt.lambda_max,
        "err_max": abs(rt.lambda_max - lmax_ref) / abs(lmax_ref),
        "hvp_top": rt.n_matvec,
        "time_top": t_top,
        "hvp_oracle": oracle,
        "lambda_min": r.lambda_min,
        "hvp_both": r.n_matvec,
        "time_both": t_both,
        "method": H.objective.method,
        "converged_top": bool(rt.converged),
        "residual_top_rel": float(rt.top.residuals[0]) / abs(rt.lambda_max),
        "peak_mib": peak,
    }


class _Reached(Exception):
    pass


def peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def pyhessian_run(
    net: nn.Module, X: Any, y: Any, lmax_ref: float, seed: int, device: torch.device
) -> dict:
    """PyHessian's power iteration with its defaults (``maxIter=100, tol=1e-3``), timed; then
    the products it needs for a true 1e-3 and the time of a run of exactly that many."""
    counter: dict[str, Any] = {"n": 0, "rq": [], "stop_at": None}
    original = _ph_module.hessian_vector_product

    def counted(gradsH: Any, params: Any, v: Any) -> Any:
        counter["n"] += 1
        hv = original(gradsH, params, v)
        rq = float(sum((a * b).sum() for a, b in zip(hv, v, strict=True)))
        counter["rq"].append(rq)
        if counter["stop_at"] is not None and abs(rq - lmax_ref) <= REL * abs(lmax_ref):
            raise _Reached
        return hv

    _ph_module.hessian_vector_product = counted
    try:
        torch.manual_seed(seed)
        peak_reset(device)
        sync(device)
        t0 = time.perf_counter()
        h = PyHessian(net, nn.CrossEntropyLoss(), data=(X, y), cuda=device.type == "cuda")
        vals, _ = h.eigenvalues(maxIter=100, tol=REL, top_n=1)
        sync(device)
        t = time.perf_counter() - t0
        peak = peak_mib(device)
        hvp_default = counter["n"]
        # the products to the true 1e-3: count until the estimate is there (limit 300)
        counter.update(n=0, rq=[], stop_at=True)
        oracle = None
        try:
            torch.manual_seed(seed)
            h.eigenvalues(maxIter=300, tol=0.0, top_n=1)
        except _Reached:
            oracle = counter["n"]
        counter["stop_at"] = None
    finally:
        _ph_module.hessian_vector_product = original
    t_true = None
    if oracle is not None:  # time exactly that many iterations (tol=0: no early stop)
        net.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        sync(device)
        t0 = time.perf_counter()
        h = PyHessian(net, nn.CrossEntropyLoss(), data=(X, y), cuda=device.type == "cuda")
        h.eigenvalues(maxIter=oracle, tol=0.0, top_n=1)
        sync(device)
        t_true = time.perf_counter() - t0
    net.zero_grad(set_to_none=True)  # PyHessian leaves graph-carrying .grad behind
    return {
        "lambda_top": float(vals[0]),
        "err_max": abs(float(vals[0]) - lmax_ref) / abs(lmax_ref),
        "hvp": hvp_default,
        "time": t,
        "hvp_oracle": oracle,
        "time_true": t_true,
        "peak_mib": peak,
    }


def hvp_over_grad(net: nn.Module, X: Any, y: Any, device: torch.device, reps: int = 21) -> dict:
    """Median time of one HVP over the median time of one gradient (same data); the timings
    of all contenders are interleaved round by round so machine noise hits them alike."""
    loss_fn = nn.CrossEntropyLoss()
    params = list(net.parameters())
    fns: dict[str, Any] = {}

    def grad_once() -> None:
        torch.autograd.grad(loss_fn(net(X), y), params)

    fns["grad"] = grad_once
    H = HessianOperator(net, loss_fn, (X, y))
    v = torch.randn(H.n, dtype=H.dtype, device=device)
    fns["ours"] = lambda: H @ v
    for m in ("func", "autograd"):
        Hm = HessianOperator(net, loss_fn, (X, y), method=m)
        fns[m] = lambda Hm=Hm: Hm @ v
    if HAVE_PYHESSIAN:
        h = PyHessian(net, loss_fn, data=(X, y), cuda=device.type == "cuda")
        vv = [torch.randn_like(p) for p in h.params]
        fns["pyhessian"] = lambda: _ph_module.hessian_vector_product(h.gradsH, h.params, vv)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():  # warm-up
        f()
    for _ in range(reps):
        for k, f in fns.items():
            sync(device)
            t0 = time.perf_counter()
            f()
            sync(device)
            times[k].append(time.perf_counter() - t0)
    net.zero_grad(set_to_none=True)
    tg = statistics.median(times["grad"])
    out: dict[str, Any] = {"grad_s": tg, "ours_method": H.objective.method}
    for k in fns:
        if k != "grad":
            out[f"{k}_hvp_s"] = statistics.median(times[k])
            out[f"{k}_ratio"] = out[f"{k}_hvp_s"] / tg
    return out


def med(rs: list[dict], k: str) -> float | None:
    vals = [r[k] for r in rs if r[k] is not None]
    return statistics.median(vals) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument(
        "--cases",
        default="mlp,cnn,saddle,mlp85k",
        help=f"comma-separated, from {', '.join(CASES)}",
    )
    ap.add_argument("--resnet-batch", type=int, default=RESNET_BATCH)
    ap.add_argument(
        "--ref-steps", type=int, default=REF_STEPS, help="Lanczos steps of the float64 reference"
    )
    args = ap.parse_args()
    globals().update(RESNET_BATCH=args.resnet_batch, REF_STEPS=args.ref_steps)
    unknown = [c for c in args.cases.split(",") if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device here")
    print(
        f"torch {torch.__version__}, device {device}, threads {args.threads}, "
        f"repeats {args.repeats}"
    )
    if HAVE_PYHESSIAN:
        print("PyHessian: importable (installed in this environment only)")
    else:
        print(
            "PyHessian: NOT importable here -> only our side is reported "
            "(install it in a separate venv: pip install --no-deps pyhessian)"
        )
    results = []
    for case in args.cases.split(","):
        name, net, X, y = CASES[case](device)
        n = sum(p.numel() for p in net.parameters())
        lmax_ref, lmin_ref = reference(net, X, y)
        runs_o, runs_p = [], []
        for s in range(args.repeats):  # interleaved, so machine load hits both alike
            runs_o.append(ours(net, X, y, lmax_ref, s, device))
            if HAVE_PYHESSIAN:
                runs_p.append(pyhessian_run(net, X, y, lmax_ref, s, device))
        pair_ratios = [p["time"] / o["time_top"] for o, p in zip(runs_o, runs_p, strict=False)]
        true_ratios = [
            p["time_true"] / o["time_top"]
            for o, p in zip(runs_o, runs_p, strict=False)
            if p["time_true"] is not None
        ]
        cost = hvp_over_grad(net, X, y, device)
        row = {
            "case": name,
            "n_params": n,
            "ref_lambda_max": lmax_ref,
            "ref_lambda_min": lmin_ref,
            "ours": {
                k: med(runs_o, k)
                for k in (
                    "time_top",
                    "hvp_top",
                    "hvp_oracle",
                    "err_max",
                    "time_both",
                    "hvp_both",
                    "residual_top_rel",
                    "peak_mib",
                )
            },
            "ours_converged_top": all(r["converged_top"] for r in runs_o),
            "ours_lambda_min": statistics.median([r["lambda_min"] for r in runs_o]),
            "ours_method": runs_o[0]["method"],
            "pyhessian": {
                k: med(runs_p, k)
                for k in (
                    "time",
                    "hvp",
                    "hvp_oracle",
                    "err_max",
                    "lambda_top",
                    "time_true",
                    "peak_mib",
                )
            }
            if runs_p
            else None,
            "cost": cost,
            "pair_ratios": pair_ratios,
            "true_ratios": true_ratios,
        }
        results.append(row)
        print(f"\n== {name}  (n = {n} parameters)")
        print(f"   reference: lambda_max = {lmax_ref:.6g}, lambda_min = {lmin_ref:.6g}")
        o = row["ours"]
        print(
            f"   ours  (Lanczos, top):   {o['time_top'] * 1e3:8.1f} ms  {o['hvp_top']:5.0f} HVPs  "
            f"rel.err {o['err_max']:.1e}  (oracle-stopped: {o['hvp_oracle']} HVPs)"
        )
        print(
            f"   ours  (both ends):      {o['time_both'] * 1e3:8.1f} ms  "
            f"{o['hvp_both']:5.0f} HVPs  "
            f"lambda_min = {row['ours_lambda_min']:.6g} (ref {lmin_ref:.6g})"
        )
        if row["pyhessian"]:
            p = row["pyhessian"]
            print(
                f"   PyHessian (power):      {p['time'] * 1e3:8.1f} ms  {p['hvp']:5.0f} HVPs  "
                f"rel.err {p['err_max']:.1e}  top = {p['lambda_top']:.6g}  "
                f"(oracle-stopped: {p['hvp_oracle']} HVPs)"
            )
            print(
                f"   time ratio PyHessian / ours (lambda_max), median of per-pair ratios: "
                f"{statistics.median(pair_ratios):.2f}x "
                f"({', '.join(f'{r:.2f}' for r in pair_ratios)})"
            )
            if p["time_true"] is not None:
                print(
                    f"   PyHessian to the true 1e-3: {p['hvp_oracle']} HVPs, "
                    f"{p['time_true'] * 1e3:.1f} ms (per-pair ratio to ours, median "
                    f"{statistics.median(true_ratios):.2f}x)"
                )
            else:
                print("   PyHessian never came within 1e-3 of the reference (300 products)")
            if p["peak_mib"] is not None:
                print(
                    f"   peak GPU memory: ours {o['peak_mib']:.0f} MiB, "
                    f"PyHessian {p['peak_mib']:.0f} MiB"
                )
        print(
            f"   lambda_min/lambda_max cost: {o['hvp_both'] / o['hvp_top']:.2f}x HVPs, "
            f"{o['time_both'] / o['time_top']:.2f}x time; top residual "
            f"{o['residual_top_rel']:.1e} x lambda_max (certified <= 1e-3: "
            f"{row['ours_converged_top']})"
        )
        c = cost
        line = (
            f"   HVP / gradient: ours {c['ours_ratio']:.2f} ({c['ours_method']}; "
            f"func {c['func_ratio']:.2f}, "
            f"autograd {c['autograd_ratio']:.2f})"
        )
        if "pyhessian_ratio" in c:
            line += f", PyHessian {c['pyhessian_ratio']:.2f}"
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"device": str(device), "threads": args.threads, "results": results}, indent=2
            )
        )


if __name__ == "__main__":
    main()
