"""Small classification tasks generated in code, and small networks to train on them.

Tasks (all deterministic given ``seed``; inputs float64, labels int64):

* ``xor``: four Gaussian clusters at ``(±1, ±1)``, label = XOR of the signs (not linearly
  separable: needs a hidden layer);
* ``moons``: two interleaving half circles (as in scikit-learn's ``make_moons``);
* ``spirals``: ``arms`` interleaved Archimedean spirals, one class each;
* ``blobs``: ``centers`` isotropic Gaussian clusters on a circle of radius 3;
* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), only when
  scikit-learn is installed — nothing is downloaded.

Models (``build_model("mlp", task, hidden=(16, 16), act="tanh")``): ``mlp`` (fully connected),
``cnn`` (conv layers + linear head, image tasks), ``linear`` (multinomial logistic regression).
All output one logit per class, for ``nn.CrossEntropyLoss``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from descentlab.errors import DescentlabError, InvalidParameterError, UnknownNameError
from descentlab.nn._summary import summary
from descentlab.validate import check_at_most, check_int


@dataclass
class Task:
    """A classification data set: inputs ``X`` (float64), labels ``y`` (int64)."""

    name: str
    X: Tensor
    y: Tensor
    n_classes: int
    description: str

    def __repr__(self) -> str:
        return summary(
            "Task",
            name=self.name,
            n_samples=len(self),
            input_shape=self.input_shape,
            n_classes=self.n_classes,
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X.shape[1:])

    @property
    def is_2d(self) -> bool:
        """Points in the plane (a decision boundary can be drawn)."""
        return self.input_shape == (2,)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_samples": len(self),
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "description": self.description,
        }


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


MAX_SAMPLES = 1_000_000
"""The most samples a generated task may have."""

MAX_PARAMS = 10_000_000
"""The most parameters a built model may have (80 MB of float64 weights)."""


def _check_n(n: int, minimum: int = 2) -> int:
    return check_at_most("n", check_int("n", n, lo=minimum), MAX_SAMPLES)


def _check_classes(value: Any, what: str) -> int:
    return check_int(what, value, lo=2, hi=1000)


def _check_params(n_params: int, what: str) -> None:
    """Refuse a model before allocating it when its weights would be absurdly many."""
    if n_params > MAX_PARAMS:
        raise InvalidParameterError(
            f"this {what} would have {n_params:,} parameters, over the limit of {MAX_PARAMS:,}; "
            "use smaller layers"
        )


def _check_noise(noise: float) -> float:
    if not isinstance(noise, int | float) or not math.isfinite(noise) or noise < 0:
        raise InvalidParameterError(f"noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


def make_xor(n: int = 200, noise: float = 0.3, seed: int = 0) -> Task:
    """XOR: clusters at ``(±1, ±1)`` with Gaussian noise ``noise``; class 1 where signs differ.

    Example:
        >>> t = make_xor(8, noise=0.0)
        >>> t.X.shape, int(t.y.sum())
        (torch.Size([8, 2]), 4)
    """
    _check_n(n, 4)
    noise = _check_noise(noise)
    g = _gen(seed)
    corner = torch.arange(n) % 4
    sx = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)[corner]
    sy = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)[corner]
    X = torch.stack([sx, sy], 1) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = (sx * sy < 0).long()
    return Task("xor", X, y, 2, "XOR of four Gaussian clusters")


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> Task:
    """Two interleaving half circles (upper: class 0, lower shifted: class 1).

    Example:
        >>> make_moons(10).X.shape
        torch.Size([10, 2])
    """
    _check_n(n)
    noise = _check_noise(noise)
    g = _gen(seed)
    n0 = (n + 1) // 2
    n1 = n - n0
    t0 = torch.linspace(0, math.pi, n0, dtype=torch.float64)
    t1 = torch.linspace(0, math.pi, n1, dtype=torch.float64)
    upper = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
    lower = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
    X = torch.cat([upper, lower]) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(n0), torch.ones(n1)]).long()
    perm = torch.randperm(n, generator=g)
    return Task("moons", X[perm], y[perm], 2, "two interleaving half circles")


def make_spirals(n: int = 300, noise: float = 0.05, arms: int = 2, seed: int = 0) -> Task:
    """``arms`` interleaved spirals ``r = t``, ``angle = t·1.5π·... + 2πk/arms``; class = arm.

    Example:
        >>> make_spirals(30, arms=3).n_classes
        3
    """
    _check_n(n, 2)
    noise = _check_noise(noise)
    _check_classes(arms, "arms")
    g = _gen(seed)
    k = torch.arange(n) % arms
    t = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.1
    angle = 3 * math.pi * t + 2 * math.pi * k.double() / arms
    X = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1) * 2.0
    X = X + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return Task("spirals", X, k.long(), arms, f"{arms} interleaved spirals")


def make_blobs(n: int = 200, centers: int = 3, std: float = 0.6, seed: int = 0) -> Task:
    """``centers`` Gaussian clusters (std ``std``) centred evenly on a circle of radius 3.

    Example:
        >>> t = make_blobs(9, centers=3)
        >>> t.y.tolist()
        [0, 1, 2, 0, 1, 2, 0, 1, 2]
    """
    _check_n(n)
    _check_classes(centers, "centers")
    std = _check_noise(std)
    g = _gen(seed)
    k = torch.arange(n) % centers
    angle = 2 * math.pi * k.double() / centers
    mu = 3.0 * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    X = mu + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return Task("blobs", X, k.long(), centers, f"{centers} Gaussian blobs")


DIGITS_NEEDS_SKLEARN = (
    "the digits task needs scikit-learn, an optional dependency (pip install scikit-learn)"
)


def digits_available() -> bool:
    """Whether scikit-learn (which ships the 8x8 digits) is importable."""
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return False
    return True


def load_digits(n: int | None = None) -> Task:
    """scikit-learn's 8x8 digits as images ``(N, 1, 8, 8)`` scaled to ``[0, 1]``.

    Raises a :class:`DescentlabError` when scikit-learn is not installed (it is optional).
    """
    if not digits_available():
        raise DescentlabError(DIGITS_NEEDS_SKLEARN)
    from sklearn.datasets import load_digits as _load

    d = _load()
    X = torch.as_tensor(d.images, dtype=torch.float64).unsqueeze(1) / 16.0
    y = torch.as_tensor(d.target, dtype=torch.int64)
    if n is not None:
        _check_n(n)
        X, y = X[:n], y[:n]
    return Task("digits", X, y, 10, "scikit-learn 8x8 handwritten digits")


TASKS: dict[str, Callable[..., Task]] = {
    "xor": make_xor,
    "moons": make_moons,
    "spirals": make_spirals,
    "blobs": make_blobs,
    "digits": load_digits,
}


def task_names() -> list[str]:
    """Names accepted by :func:`get_task` (``digits`` only with scikit-learn installed)."""
    return [n for n in TASKS if n != "digits" or digits_available()]


def get_task(name: str, **kwargs: Any) -> Task:
    """A task by name with its keyword options (``n``, ``noise``, ``seed``...).

    Example:
        >>> get_task("moons", n=50, noise=0.2).X.shape
        torch.Size([50, 2])
    """
    key = str(name).strip().lower()
    if key == "digits" and not digits_available():  # say what is missing, not "unknown task"
        raise DescentlabError(DIGITS_NEEDS_SKLEARN)
    if key not in task_names():
        raise UnknownNameError("task", str(name), task_names())
    fn = TASKS[key]
    import inspect

    valid = list(inspect.signature(fn).parameters)
    bad = [k for k in kwargs if k not in valid]
    if bad:
        raise InvalidParameterError(
            f"task {key!r} has no option {', '.join(map(repr, bad))}; valid: {', '.join(valid)}"
        )
    return fn(**kwargs)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}


def _activation(name: Any) -> Callable[[], nn.Module]:
    if str(name) not in ACTIVATIONS:
        raise UnknownNameError("activation", str(name), ACTIVATIONS)
    return ACTIVATIONS[str(name)]


def _ints(value: Any, what: str) -> tuple[int, ...]:
    vals = value if isinstance(value, tuple | list) else (value,)
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in vals):
        raise InvalidParameterError(f"{what} must be positive integers, got {value!r}")
    return tuple(vals)


def mlp(
    in_features: int,
    n_out: int,
    hidden: int | tuple[int, ...] = 16,
    act: str = "tanh",
    batchnorm: bool = False,
) -> nn.Sequential:
    """A fully connected network ``in -> hidden... -> n_out`` (float64).

    Example:
        >>> len(mlp(2, 2, hidden=(8, 8)))
        5
    """
    widths = (in_features, *_ints(hidden, "hidden"), n_out)
    _check_params(sum((a + 1) * b for a, b in itertools.pairwise(widths)), "mlp")
    layers: list[nn.Module] = []
    width = in_features
    for h in widths[1:-1]:
        layers.append(nn.Linear(width, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_activation(act)())
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers).double()


def cnn(
    input_shape: tuple[int, ...],
    n_out: int,
    channels: int | tuple[int, ...] = 8,
    kernel: int = 3,
    act: str = "relu",
    batchnorm: bool = False,
) -> nn.Sequential:
    """Conv layers (padding keeps the size) + a linear head, for ``(C, H, W)`` inputs (float64)."""
    if len(input_shape) != 3:
        raise InvalidParameterError(
            f"a cnn needs image inputs (C, H, W); this task's inputs have shape {input_shape}"
        )
    (k,) = _ints(kernel, "kernel")
    chans = (input_shape[0], *_ints(channels, "channels"))
    conv = sum((a * k * k + 1) * b for a, b in itertools.pairwise(chans))
    _check_params(conv + (chans[-1] * input_shape[1] * input_shape[2] + 1) * n_out, "cnn")
    layers: list[nn.Module] = []
    c = input_shape[0]
    for ch in chans[1:]:
        layers.append(nn.Conv2d(c, ch, k, padding=k // 2))
        if batchnorm:
            layers.append(nn.BatchNorm2d(ch))
        layers.append(_activation(act)())
        c = ch
    layers += [nn.Flatten(), nn.Linear(c * input_shape[1] * input_shape[2], n_out)]
    return nn.Sequential(*layers).double()


MODELS = ("mlp", "cnn", "linear")


def build_model(name: str, task: Task, seed: int = 0, **kw: Any) -> nn.Module:
    """A model by name and options, sized for ``task``; initial weights from ``seed`` (the
    global random state is left untouched).

    ``mlp``: ``hidden`` (``16`` or ``16;16``), ``act`` (tanh, relu, gelu, sigmoid, softplus),
    ``batchnorm``. ``cnn``: ``channels``, ``kernel``, ``act``, ``batchnorm``. ``linear``: none.

    Example:
        >>> build_model("mlp", make_moons(10), hidden=4, act="relu")[0]
        Linear(in_features=2, out_features=4, bias=True)
    """
    name = str(name).strip().lower()
    if name not in MODELS:
        raise UnknownNameError("model", name, MODELS)
    valid = {
        "mlp": ("hidden", "act", "batchnorm"),
        "cnn": ("channels", "kernel", "act", "batchnorm"),
        "linear": (),
    }[name]
    bad = [k for k in kw if k not in valid]
    if bad:
        raise InvalidParameterError(
            f"model {name!r} has no option {', '.join(map(repr, bad))}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if name == "cnn":
            return cnn(task.input_shape, task.n_classes, **kw)
        flat = math.prod(task.input_shape)
        if name == "linear":
            net: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(flat, task.n_classes)).double()
            return net
        body = mlp(flat, task.n_classes, **kw)
        return nn.Sequential(nn.Flatten(), *body) if len(task.input_shape) > 1 else body
