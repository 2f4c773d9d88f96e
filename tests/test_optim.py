"""One table of every registered optimizer, driven step by step at float64.

* torch-backed entries: a batched ``(B, d)`` run through the registry equals ``torch.optim`` run
  on ``B`` separate ``(1, d)`` tensors (rows never interfere, and the registry builds exactly
  torch's rule);
* ours: a batched run equals ``B`` separate runs of the same rule (stochastic ones with the same
  ``row_offset``, so the same noise per row);
* the registry's validation, labels and the element-wise probe.
"""

from __future__ import annotations

import pytest
import torch

from descentlab.errors import InvalidParameterError, UnknownNameError
from descentlab.optim import (
    OptimizerSpec,
    is_elementwise,
    optimizer_info,
    optimizer_names,
    resolve_optimizer,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using backward.. with create_graph=True")

B, D, STEPS = 4, 3, 20
O = torch.optim


def f_rows(P: torch.Tensor) -> torch.Tensor:
    """Non-quadratic, coupled within a row: a tilted double well plus a sine ripple."""
    x = P
    return (
        ((x**2 - 1.0) ** 2).sum(-1)
        + 0.3 * torch.sin(2.0 * x).sum(-1)
        + 0.25 * x[:, 0] * x[:, -1]
        + 0.1 * x[:, 0]
    )


def starts() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return (2.0 * torch.rand(B, D, generator=g, dtype=torch.float64) - 1.0) * 1.4


# name -> (hyper for the registry, torch class, kwargs for the torch oracle)
TORCH_TABLE = {
    "gd": ({"lr": 0.02}, O.SGD, {"lr": 0.02}),
    "sgd": (
        {"lr": 0.02, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.01},
        O.SGD,
        {"lr": 0.02, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.01},
    ),
    "momentum": ({"lr": 0.02}, O.SGD, {"lr": 0.02, "momentum": 0.9}),
    "nesterov": (
        {"lr": 0.02, "momentum": 0.8},
        O.SGD,
        {"lr": 0.02, "momentum": 0.8, "nesterov": True},
    ),
    "adagrad": ({"lr": 0.1}, O.Adagrad, {"lr": 0.1}),
    "rmsprop": ({"lr": 0.01, "centered": True}, O.RMSprop, {"lr": 0.01, "centered": True}),
    "adadelta": ({"lr": 1.0}, O.Adadelta, {"lr": 1.0}),
    "adam": ({"lr": 0.05}, O.Adam, {"lr": 0.05}),
    "adamw": ({"lr": 0.05, "weight_decay": 0.1}, O.AdamW, {"lr": 0.05, "weight_decay": 0.1}),
    "nadam": ({"lr": 0.05}, O.NAdam, {"lr": 0.05}),
    "radam": ({"lr": 0.05}, O.RAdam, {"lr": 0.05}),
    "adamax": ({"lr": 0.05}, O.Adamax, {"lr": 0.05}),
    "amsgrad": ({"lr": 0.05}, O.Adam, {"lr": 0.05, "amsgrad": True}),
}

OURS_TABLE = {
    "newton": {"lr": 0.5},
    "damped_newton": {"damping": 0.5},
    "damped_newton_adaptive": {"damping": 1.0, "adaptive": True, "factor": 3.0},
    "saddle_free_newton": {"damping": 0.1, "lr": 0.5},
    "cubic_newton": {"M": 5.0},
    "perturbed_gd": {"lr": 0.05, "g_thres": 0.8, "t_thres": 3, "radius": 0.3, "seed": 11},
    "noisy_gd": {"lr": 0.05, "sigma": 0.5, "seed": 3},
    "armijo_gd": {"lr": 2.0, "beta": 0.5},
}


def registry_name(key: str) -> str:
    return key.removesuffix("_adaptive")


def run(spec: OptimizerSpec, P0: torch.Tensor, steps: int, row_offset: int = 0) -> torch.Tensor:
    """Drive ``spec`` with the lab's closure convention; return positions ``(steps+1, R, d)``."""
    P = P0.clone().requires_grad_(True)
    group = {"params": [P], "rows_independent": True, "row_fn": f_rows, "row_offset": row_offset}
    opt = spec.factory([group])

    def closure():
        opt.zero_grad()
        loss = f_rows(P).sum()
        loss.backward(create_graph=spec.second_order)
        return loss

    out = [P.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        out.append(P.detach().clone())
    return torch.stack(out)


def run_torch(cls, kwargs, P0: torch.Tensor, steps: int) -> torch.Tensor:
    """The oracle: torch.optim on one separate ``(1, d)`` tensor per row."""
    trajs = []
    for i in range(P0.shape[0]):
        p = P0[i : i + 1].clone().requires_grad_(True)
        opt = cls([p], **kwargs)
        out = [p.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            f_rows(p).sum().backward()
            opt.step()
            out.append(p.detach().clone())
        trajs.append(torch.cat(out, 0))
    return torch.stack(trajs, 1)


def test_table_covers_every_registered_optimizer():
    covered = set(TORCH_TABLE) | {registry_name(k) for k in OURS_TABLE} | {"lbfgs"}
    assert covered == set(optimizer_names())


@pytest.mark.parametrize("name", sorted(TORCH_TABLE))
def test_torch_backed_batched_equals_torch_on_separate_rows(name):
    hyper, cls, kwargs = TORCH_TABLE[name]
    spec = resolve_optimizer(name, **hyper)
    assert spec.elementwise is True and not spec.second_order and not spec.needs_closure
    P0 = starts()
    batched = run(spec, P0, STEPS)
    oracle = run_torch(cls, kwargs, P0, STEPS)
    assert (batched[-1] - batched[0]).abs().max() > 1e-2  # the run really moved
    torch.testing.assert_close(batched, oracle, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("key", sorted(OURS_TABLE))
def test_ours_batched_equals_separate_runs(key):
    spec = resolve_optimizer(registry_name(key), **OURS_TABLE[key])
    assert spec.elementwise is True
    P0 = starts()
    batched = run(spec, P0, STEPS)
    separate = torch.cat([run(spec, P0[i : i + 1], STEPS, row_offset=i) for i in range(B)], 1)
    assert torch.isfinite(batched).all()
    assert (batched[-1] - batched[0]).abs().max() > 1e-2
    torch.testing.assert_close(batched, separate, rtol=1e-12, atol=1e-13)


def test_default_hyper_parameters_of_ours_also_keep_rows_apart():
    P0 = starts()
    for name in ("newton", "damped_newton", "saddle_free_newton", "cubic_newton", "armijo_gd"):
        spec = resolve_optimizer(name)
        batched = run(spec, P0, 5)
        separate = torch.cat([run(spec, P0[i : i + 1], 5) for i in range(B)], 1)
        torch.testing.assert_close(batched, separate, rtol=1e-12, atol=1e-13)


def test_lbfgs_is_declared_coupling_and_single_row_equals_torch():
    spec = resolve_optimizer("lbfgs", lr=0.5, max_iter=5)
    assert spec.elementwise is False and spec.needs_closure
    p = starts()[:1].clone().requires_grad_(True)
    q = p.detach().clone().requires_grad_(True)
    ours, ref = spec.factory([p]), O.LBFGS([q], lr=0.5, max_iter=5)
    for x, opt in ((p, ours), (q, ref)):
        for _ in range(3):

            def closure(x=x, opt=opt):
                opt.zero_grad()
                loss = f_rows(x).sum()
                loss.backward()
                return loss

            opt.step(closure)
    assert torch.equal(p, q)


# ---------------------------------------------------------------------------- probe
class TrustRatioSGD(torch.optim.Optimizer):
    """A LARS-like rule: the step is scaled by the per-tensor ratio |p| / |g| (couples rows)."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                ratio = p.norm() / p.grad.norm().clamp_min(1e-12)
                p.add_(p.grad, alpha=-group["lr"] * float(ratio))
        return loss


@pytest.mark.parametrize(
    ("optimizer", "hyper", "expected"),
    [
        (O.SGD, {"lr": 0.05, "momentum": 0.9}, True),
        (O.Adam, {"lr": 0.05}, True),
        (O.RMSprop, {"lr": 0.01}, True),
        (O.LBFGS, {"lr": 0.5, "max_iter": 4}, False),
        ("lbfgs", {}, False),
        (TrustRatioSGD, {"lr": 0.05}, False),
        ("newton", {}, True),
        ("perturbed_gd", {"g_thres": 10.0, "t_thres": 1}, True),
    ],
)
def test_is_elementwise_probe(optimizer, hyper, expected):
    assert is_elementwise(optimizer, **hyper) is expected


def test_callable_specs():
    spec = resolve_optimizer(O.Adam, lr=0.1)
    assert spec.name == "Adam" and spec.elementwise is True and spec.label == "Adam(lr=0.1)"
    spec = resolve_optimizer(O.LBFGS)
    assert spec.elementwise is False and spec.needs_closure
    spec = resolve_optimizer(TrustRatioSGD, lr=0.2)
    assert spec.elementwise is None and spec.name == "TrustRatioSGD"

    def my_factory(params):
        return O.SGD(params, lr=0.3)

    spec = resolve_optimizer(my_factory)
    assert spec.name == "my_factory" and spec.label == "my_factory"
    p = torch.ones(1, 2, dtype=torch.float64, requires_grad=True)
    assert spec.factory([p]).param_groups[0]["lr"] == 0.3


def test_spec_override_and_passthrough():
    spec = resolve_optimizer("adam", lr=0.01)
    assert resolve_optimizer(spec) is spec
    spec2 = resolve_optimizer(spec, betas=(0.5, 0.9))
    assert spec2.hyper == {"lr": 0.01, "betas": (0.5, 0.9)}
    assert spec2.label == "adam(lr=0.01, betas=(0.5, 0.9))"
    with pytest.raises(InvalidParameterError, match="not a registered optimizer"):
        resolve_optimizer(resolve_optimizer(O.Rprop, lr=0.1), lr=0.2)


def test_registry_builds_the_rule_it_names():
    p = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    g = resolve_optimizer("nesterov").factory([p]).param_groups[0]
    assert g["nesterov"] is True and g["momentum"] == 0.9 and g["lr"] == 0.01
    g = resolve_optimizer("amsgrad", lr=0.3).factory([p]).param_groups[0]
    assert g["amsgrad"] is True and g["lr"] == 0.3
    g = resolve_optimizer("gd").factory([p]).param_groups[0]
    assert g["momentum"] == 0 and g["nesterov"] is False
    info = optimizer_info("cubic_newton")
    assert (
        info["second_order"] and info["needs_closure"] and info["defaults"] == {"lr": 1.0, "M": 1.0}
    )


# ---------------------------------------------------------------------------- validation
def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as e:
        resolve_optimizer("adamm")
    msg = str(e.value)
    for name in ("adam", "newton", "cubic_newton", "lbfgs"):
        assert name in msg


def test_unknown_hyper_parameter_lists_accepted_with_defaults():
    with pytest.raises(InvalidParameterError) as e:
        resolve_optimizer("momentum", beta=0.9)
    msg = str(e.value)
    assert "'beta'" in msg and "momentum=0.9" in msg and "lr=0.01" in msg
    with pytest.raises(InvalidParameterError, match=r"g_thres=0\.001"):
        resolve_optimizer("perturbed_gd", gthres=1)
    with pytest.raises(InvalidParameterError, match="nesterov"):
        resolve_optimizer("momentum", nesterov=True)  # use the nesterov entry


@pytest.mark.parametrize(
    ("name", "hyper", "fragment"),
    [
        ("gd", {"lr": -0.1}, "lr must be > 0"),
        ("gd", {"lr": 0}, "lr must be > 0"),
        ("gd", {"lr": "fast"}, "lr must be a number"),
        ("gd", {"lr": float("nan")}, "lr must be finite"),
        ("momentum", {"momentum": 1.5}, "momentum must be in [0, 1)"),
        ("nesterov", {"momentum": 0.0}, "(momentum)"),
        ("adam", {"betas": (0.9, 1.0)}, "betas[1] must be in [0, 1)"),
        ("adam", {"betas": 0.9}, "betas must be a pair"),
        ("adam", {"eps": -1.0}, "eps must be >= 0"),
        ("adam", {"amsgrad": "yes"}, "amsgrad must be true or false"),
        ("rmsprop", {"alpha": 2.0}, "alpha must be in [0, 1]"),
        ("adadelta", {"rho": -0.5}, "rho must be in [0, 1]"),
        ("lbfgs", {"history_size": 0}, "history_size must be a positive integer"),
        ("lbfgs", {"line_search_fn": "armijo"}, "line_search_fn must be none or 'strong_wolfe'"),
        ("newton", {"lr": 0.0}, "newton: lr must be > 0"),
        ("newton", {"rcond": 1.0}, "rcond must be in [0, 1)"),
        ("damped_newton", {"damping": -1.0}, "damping must be >= 0"),
        ("damped_newton", {"factor": 1.0}, "factor must be > 1"),
        ("damped_newton", {"adaptive": 1}, "adaptive must be true or false"),
        ("damped_newton", {"min_damping": 10.0, "max_damping": 1.0}, "exceeds max_damping"),
        ("saddle_free_newton", {"damping": -1e-3}, "damping must be >= 0"),
        ("cubic_newton", {"M": 0.0}, "M must be > 0"),
        ("perturbed_gd", {"radius": 0.0}, "radius must be > 0"),
        ("perturbed_gd", {"t_thres": 0}, "t_thres must be an integer >= 1"),
        ("perturbed_gd", {"g_thres": -1.0}, "g_thres must be >= 0"),
        ("perturbed_gd", {"seed": -3}, "seed must be an integer >= 0"),
        ("noisy_gd", {"sigma": -0.1}, "sigma must be >= 0"),
        ("noisy_gd", {"seed": 1.5}, "seed must be an integer >= 0"),
        ("armijo_gd", {"c": 1.0}, "c must be in (0, 1)"),
        ("armijo_gd", {"beta": 0.0}, "beta must be in (0, 1)"),
        ("armijo_gd", {"max_backtracks": -1}, "max_backtracks must be an integer >= 0"),
    ],
)
def test_bad_hyper_parameters_say_which_and_why(name, hyper, fragment):
    with pytest.raises(InvalidParameterError) as e:
        resolve_optimizer(name, **hyper)
    assert fragment in str(e.value)


def test_callable_errors_become_invalid_parameter():
    with pytest.raises(InvalidParameterError, match=r"\(lr\)"):
        resolve_optimizer(O.Adam, lr=-1.0)
    with pytest.raises(InvalidParameterError, match="unexpected keyword argument 'foo'"):
        resolve_optimizer(O.Adam, foo=1)
    with pytest.raises(InvalidParameterError, match=r"must return a torch\.optim\.Optimizer"):
        resolve_optimizer(lambda params: None)
    with pytest.raises(InvalidParameterError, match="optimizer must be a name"):
        resolve_optimizer(3.0)


def test_group_hyper_parameters_are_checked_at_step():
    P = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    opt = resolve_optimizer("noisy_gd").factory([{"params": [P], "rows_independent": True}])
    opt.param_groups[0]["sigma"] = -1.0
    (P**2).sum().backward()
    with pytest.raises(InvalidParameterError, match="sigma must be >= 0"):
        opt.step()


def test_second_order_without_closure_is_a_clear_error():
    P = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    opt = resolve_optimizer("newton").factory([{"params": [P], "rows_independent": True}])
    with pytest.raises(InvalidParameterError, match="needs a closure"):
        opt.step()


def test_row_fn_required_where_used():
    P = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    opt = resolve_optimizer("armijo_gd").factory([{"params": [P], "rows_independent": True}])

    def closure():
        opt.zero_grad()
        loss = (P**2).sum()
        loss.backward()
        return loss

    with pytest.raises(InvalidParameterError, match="row_fn"):
        opt.step(closure)


def test_rows_mode_needs_two_dimensional_parameters():
    from descentlab.errors import DimensionError

    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = resolve_optimizer("noisy_gd").factory([{"params": [p], "rows_independent": True}])
    (p**2).sum().backward()
    with pytest.raises(DimensionError, match=r"\(B, d\)"):
        opt.step()
