"""A sweep specification: landscapes x optimizers (with a tuning budget) x seeds, and the run
settings every cell shares. Written in TOML or built in Python; validated before any work.

TOML form (every key but ``landscapes`` and ``optimizers`` has a default)::

    name = "saddles"
    steps = 1000            # step budget per start
    starts = 32             # random starts per (landscape, seed), uniform in the domain box
    seeds = 3               # 0, 1, 2 (or an explicit list: [0, 5, 9])
    targets = [1e-1, 1e-3, 1e-6]   # precisions: start i "hits" target t at the first step k
                                   # with f(x_k) - f* <= t (f* = the landscape's global value)
    grad_tol = 1e-8         # the engine's converged rule (omit: the engine's default)
    bound = 1e6             # the engine's diverged rule
    record_every = 1        # steps-to-target resolution (exact when 1)

    [tuning]
    method = "grid"         # or "random"
    trials = 4              # configurations per optimizer: the same for every optimizer
    seed = 0                # random search only

    [[landscapes]]
    name = "himmelblau"                 # any catalogue name, including bbob_f1..bbob_f24
    [[landscapes]]
    name = "bbob_f3"
    params = { dim = 5, instance = 1 }
    [[landscapes]]
    formula = "x**4 - 2*x**2 + y**2"
    domain = [-2, 2, -2, 2]
    [[landscapes]]
    generator = "gaussian_wells"        # random and network landscapes, by name
    params = { dim = 3, seed = 1 }

    [[optimizers]]
    name = "gd"
    search = { lr = [0.003, 0.01, 0.03, 0.1] }          # grid: a list per hyper-parameter
    [[optimizers]]
    name = "adam"
    fixed = { betas = [0.9, 0.99] }
    search = { lr = { log_uniform = [1e-4, 1e-1] } }   # random: log_uniform, uniform, int_uniform
                                                        # or a list (a uniform choice)

Equal tuning budget (Schmidt, Schneider & Hennig 2021): every optimizer gets exactly
``tuning.trials`` configurations. A grid must have that many points (the product of its lists);
random search draws that many, from a generator seeded by ``tuning.seed`` and the optimizer's
label, so adding an optimizer never changes another's draws.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.errors import DescentlabError, InvalidParameterError, UnknownNameError
from descentlab.landscapes.base import Landscape

DEFAULT_TARGETS = (1e-1, 1e-3, 1e-5, 1e-8)
MAX_CELLS = 1_000_000
MAX_RECORD_BYTES = 256 * 2**20  # the engine's default limit on a run's records

# Random and network landscapes a spec may name (``generator = ...``); each takes only
# keyword parameters.
GENERATORS = (
    "gaussian_wells",
    "random_fourier_field",
    "random_quadratic_saddle",
    "xor_net",
    "product_model",
)


class SpecError(InvalidParameterError):
    """A sweep specification that cannot work; the message names the offending field."""


def _err(where: str, msg: str) -> SpecError:
    return SpecError(f"sweep spec: {where}: {msg}")


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, tuples as lists): the basis of every identity."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_keys(where: str, d: Mapping[str, Any], allowed: Sequence[str]) -> None:
    if not isinstance(d, Mapping):
        raise _err(where, f"expected a table, got {type(d).__name__}")
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise _err(where, f"unknown key {extra[0]!r}; accepted: {', '.join(allowed)}")


def _scalar(where: str, v: Any) -> Any:
    """A hyper-parameter or landscape-parameter value: number, bool, string, or a list of them
    (kept as a tuple, e.g. Adam's betas)."""
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _err(where, f"must be finite, got {v!r}")
        return v
    if isinstance(v, list | tuple) and all(
        isinstance(x, bool | int | float) and not isinstance(x, bool) for x in v
    ):
        return tuple(_scalar(where, x) for x in v)
    raise _err(where, f"must be a number, a bool, a string or a list of numbers, got {v!r}")


def _int(where: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise _err(where, f"must be an integer {rng}, got {v!r}")
    return v


def _pos_float(where: str, v: Any, allow_zero: bool = False, allow_inf: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _err(where, f"must be a number, got {v!r}")
    f = float(v)
    if math.isnan(f) or (math.isinf(f) and not allow_inf) or f < 0 or (f == 0 and not allow_zero):
        raise _err(where, f"must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")
    return f


# ------------------------------------------------------------------------------ landscapes
@dataclass(frozen=True)
class LandscapeEntry:
    """One landscape of the sweep: a catalogue ``name``, a ``formula``, or a ``generator``."""

    name: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    formula: str | None = None
    domain: tuple[float, ...] | None = None
    dim: int | None = None
    generator: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "landscapes") -> LandscapeEntry:
        _check_keys(where, d, ("name", "params", "formula", "domain", "dim", "generator"))
        sources = [k for k in ("name", "formula", "generator") if k in d]
        if len(sources) != 1:
            raise _err(where, "give exactly one of 'name', 'formula' or 'generator'")
        params = d.get("params", {})
        _check_keys(f"{where}.params", params, list(params))
        p = tuple(sorted((str(k), _scalar(f"{where}.params.{k}", v)) for k, v in params.items()))
        domain = d.get("domain")
        if domain is not None:
            if not isinstance(domain, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in domain
            ):
                raise _err(f"{where}.domain", f"must be a list of numbers, got {domain!r}")
            domain = tuple(float(x) for x in domain)
        if "formula" in d:
            if not isinstance(d["formula"], str):
                raise _err(f"{where}.formula", "must be a string")
            if p:
                raise _err(f"{where}.params", "a formula takes no params (use dim and domain)")
        elif domain is not None or "dim" in d:
            raise _err(where, "'domain' and 'dim' belong to a formula; use params for others")
        dim = None if d.get("dim") is None else _int(f"{where}.dim", d["dim"], 1)
        entry = cls(
            name=d.get("name"),
            params=p,
            formula=d.get("formula"),
            domain=domain,
            dim=dim,
            generator=d.get("generator"),
        )
        try:
            L = entry.build()
        except DescentlabError as exc:
            raise _err(where, str(exc)) from None
        if L.domain is None:
            raise _err(where, f"{entry.label} has no domain box to draw starts from")
        return entry

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("name", "formula", "generator", "dim"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.domain is not None:
            out["domain"] = list(self.domain)
        if self.params:
            out["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        return out

    @property
    def label(self) -> str:
        """``himmelblau``, ``bbob_f3(dim=5,instance=1)``, ``formula:x**4 - y**2``."""
        if self.formula is not None:
            return f"formula:{self.formula}"
        base = self.name if self.name is not None else str(self.generator)
        if not self.params:
            return base
        return base + "(" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params) + ")"

    def build(self) -> Landscape:
        """The landscape (catalogue, formula, or random/network generator)."""
        params = dict(self.params)
        if self.formula is not None:
            from descentlab.landscapes.formula import formula_landscape

            return formula_landscape(self.formula, domain=self.domain, dim=self.dim)
        if self.generator is not None:
            if self.generator not in GENERATORS:
                raise UnknownNameError("landscape generator", self.generator, GENERATORS)
            import descentlab.landscapes.neural as neural
            import descentlab.landscapes.random as rnd

            factory = getattr(rnd, self.generator, None) or getattr(neural, self.generator)
            try:
                return factory(**params)
            except TypeError as exc:
                raise InvalidParameterError(f"{self.generator}: {exc}") from None
        from descentlab.landscapes.registry import get_landscape

        return get_landscape(str(self.name), **params)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return ";".join(_fmt(x) for x in v)
    return str(v)


# ------------------------------------------------------------------------------ optimizers
_DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform")


@dataclass(frozen=True)
class OptimizerEntry:
    """One optimizer with its fixed hyper-parameters and its search space.

    ``search`` maps a hyper-parameter to a list of values (grid, or a uniform choice in random
    search) or to ``{"log_uniform": [lo, hi]}`` / ``{"uniform": [lo, hi]}`` /
    ``{"int_uniform": [lo, hi]}`` (random search only).
    """

    name: str
    label: str
    fixed: tuple[tuple[str, Any], ...] = ()
    search: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "optimizers") -> OptimizerEntry:
        from descentlab.optim.registry import optimizer_info, optimizer_names

        _check_keys(where, d, ("name", "label", "fixed", "search"))
        if not isinstance(d.get("name"), str):
            raise _err(f"{where}.name", "an optimizer name is required")
        name = d["name"].strip().lower().replace("-", "_")
        if name not in optimizer_names():
            raise _err(f"{where}.name", str(UnknownNameError("optimizer", name, optimizer_names())))
        accepted = set(optimizer_info(name)["defaults"])
        fixed = d.get("fixed", {})
        search = d.get("search", {})
        _check_keys(f"{where}.fixed", fixed, list(fixed))
        _check_keys(f"{where}.search", search, list(search))
        for k in [*fixed, *search]:
            if k not in accepted:
                raise _err(
                    f"{where}",
                    f"{name} has no hyper-parameter {k!r}; accepted: "
                    + ", ".join(sorted(accepted)),
                )
        both = sorted(set(fixed) & set(search))
        if both:
            raise _err(where, f"{both[0]!r} is both fixed and searched")
        fx = tuple(sorted((k, _scalar(f"{where}.fixed.{k}", v)) for k, v in fixed.items()))
        sr = []
        for k, v in sorted(search.items()):
            w = f"{where}.search.{k}"
            if isinstance(v, list):
                if not v:
                    raise _err(w, "the list of values is empty")
                sr.append((k, tuple(_scalar(w, x) for x in v)))
            elif isinstance(v, Mapping):
                _check_keys(w, v, _DISTRIBUTIONS)
                if len(v) != 1:
                    raise _err(w, f"give one distribution of {', '.join(_DISTRIBUTIONS)}")
                ((kind, bounds),) = v.items()
                if not (
                    isinstance(bounds, list)
                    and len(bounds) == 2
                    and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
                    and all(math.isfinite(b) for b in bounds)
                    and bounds[0] < bounds[1]
                ):
                    raise _err(w, f"{kind} needs [lo, hi] with lo < hi, got {bounds!r}")
                if kind == "log_uniform" and bounds[0] <= 0:
                    raise _err(w, "log_uniform needs lo > 0")
                if kind == "int_uniform" and not all(isinstance(b, int) for b in bounds):
                    raise _err(w, "int_uniform needs integer bounds")
                sr.append((k, (kind, float(bounds[0]), float(bounds[1]))))
            else:
                raise _err(w, "must be a list of values or a distribution table")
        label = d.get("label", name)
        if not isinstance(label, str) or not label.strip():
            raise _err(f"{where}.label", "must be a non-empty string")
        entry = cls(name=name, label=label.strip(), fixed=fx, search=tuple(sr))
        return entry

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label}
        if self.fixed:
            out["fixed"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed}
        if self.search:
            s: dict[str, Any] = {}
            for k, v in self.search:
                if isinstance(v, tuple) and v and v[0] in _DISTRIBUTIONS:
                    s[k] = {v[0]: [v[1], v[2]]}
                else:
                    s[k] = [list(x) if isinstance(x, tuple) else x for x in v]
            out["search"] = s
        return out

    def has_distributions(self) -> bool:
        return any(isinstance(v, tuple) and v and v[0] in _DISTRIBUTIONS for _, v in self.search)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the search lists (keys sorted), with the fixed values."""
        keys = [k for k, _ in self.search]
        out = []
        for combo in itertools.product(*(v for _, v in self.search)):
            out.append({**dict(self.fixed), **dict(zip(keys, combo, strict=True))})
        return out

    def sample(self, trials: int, seed: int) -> list[dict[str, Any]]:
        """``trials`` random configurations, from a generator seeded by ``(seed, label)``;
        floats are rounded to 6 significant digits so configurations read (and compare) cleanly.
        """
        rng = np.random.default_rng([seed, zlib.crc32(self.label.encode())])
        out = []
        for _ in range(trials):
            cfg = dict(self.fixed)
            for k, v in self.search:
                if isinstance(v, tuple) and v and v[0] in _DISTRIBUTIONS:
                    kind, lo, hi = v
                    if kind == "log_uniform":
                        x = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
                    elif kind == "uniform":
                        x = float(rng.uniform(lo, hi))
                    else:
                        x = int(rng.integers(int(lo), int(hi) + 1))
                    cfg[k] = x if isinstance(x, int) else float(f"{x:.6g}")
                else:
                    cfg[k] = v[int(rng.integers(len(v)))]
            out.append(cfg)
        return out


# ------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class Tuning:
    """How each optimizer's configurations are chosen: ``grid`` or ``random`` search, with the
    same number of ``trials`` for every optimizer."""

    method: str = "grid"
    trials: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Cell:
    """One unit of work: a landscape x an optimizer configuration x a seed; all starts run as
    one batched engine run."""

    landscape: LandscapeEntry
    optimizer: OptimizerEntry
    config: tuple[tuple[str, Any], ...]
    config_index: int
    seed: int

    @property
    def cell_id(self) -> str:
        """A content hash: the same landscape, optimizer, configuration and seed give the same
        id in every spec (the store's key)."""
        key = canonical_json(
            {
                "landscape": self.landscape.to_dict(),
                "optimizer": self.optimizer.name,
                "label": self.optimizer.label,
                "config": {k: list(v) if isinstance(v, tuple) else v for k, v in self.config},
                "seed": self.seed,
            }
        )
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    @property
    def hyper(self) -> dict[str, Any]:
        return dict(self.config)

    def describe(self) -> str:
        cfg = ",".join(f"{k}={_fmt(v)}" for k, v in self.config)
        return f"{self.landscape.label} | {self.optimizer.label}({cfg}) | seed {self.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """Landscapes x optimizers (tuned under an equal budget) x seeds, with shared run settings.

    Build it with :meth:`from_dict` / :meth:`from_toml` / :func:`load_spec` (validated), or
    directly (then call :meth:`validate`).
    """

    landscapes: tuple[LandscapeEntry, ...]
    optimizers: tuple[OptimizerEntry, ...]
    seeds: tuple[int, ...] = (0,)
    starts: int = 16
    steps: int = 1000
    targets: tuple[float, ...] = DEFAULT_TARGETS
    grad_tol: float | None = None
    bound: float = 1e6
    record_every: int = 1
    tuning: Tuning = field(default_factory=Tuning)
    name: str = "sweep"

    # -------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepSpec:
        _check_keys(
            "top level",
            d,
            (
                "name",
                "landscapes",
                "optimizers",
                "seeds",
                "starts",
                "steps",
                "targets",
                "grad_tol",
                "bound",
                "record_every",
                "tuning",
            ),
        )
        for key in ("landscapes", "optimizers"):
            if not isinstance(d.get(key), list) or not d[key]:
                raise _err(key, f"at least one [[{key}]] entry is required")
        lands = tuple(
            LandscapeEntry.from_dict(x, f"landscapes[{i}]") for i, x in enumerate(d["landscapes"])
        )
        opts = tuple(
            OptimizerEntry.from_dict(x, f"optimizers[{i}]") for i, x in enumerate(d["optimizers"])
        )
        seeds_raw = d.get("seeds", 1)
        if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
            seeds = tuple(range(_int("seeds", seeds_raw, 1, 100_000)))
        elif isinstance(seeds_raw, list) and seeds_raw:
            seeds = tuple(_int(f"seeds[{i}]", s, 0) for i, s in enumerate(seeds_raw))
        else:
            raise _err("seeds", f"a count (>= 1) or a non-empty list of seeds, got {seeds_raw!r}")
        targets_raw = d.get("targets", list(DEFAULT_TARGETS))
        if not isinstance(targets_raw, list) or not targets_raw:
            raise _err("targets", "a non-empty list of precisions f - f* (e.g. [1e-1, 1e-3])")
        targets = tuple(_pos_float(f"targets[{i}]", t) for i, t in enumerate(targets_raw))
        tun = d.get("tuning", {})
        _check_keys("tuning", tun, ("method", "trials", "seed"))
        tuning = Tuning(
            method=tun.get("method", "grid"),
            trials=None if tun.get("trials") is None else _int("tuning.trials", tun["trials"], 1),
            seed=_int("tuning.seed", tun.get("seed", 0), 0),
        )
        name = d.get("name", "sweep")
        if not isinstance(name, str):
            raise _err("name", "must be a string")
        spec = cls(
            landscapes=lands,
            optimizers=opts,
            seeds=seeds,
            starts=_int("starts", d.get("starts", 16), 1, 1_000_000),
            steps=_int("steps", d.get("steps", 1000), 1, 100_000_000),
            targets=targets,
            grad_tol=None
            if d.get("grad_tol") is None
            else _pos_float("grad_tol", d["grad_tol"], allow_zero=True),
            bound=math.inf
            if d.get("bound", 1e6) is None
            else _pos_float("bound", d.get("bound", 1e6), allow_inf=True),
            record_every=_int("record_every", d.get("record_every", 1), 1),
            tuning=tuning,
            name=name,
        )
        spec.validate()
        return spec

    @classmethod
    def from_toml(cls, text: str) -> SweepSpec:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"sweep spec: not valid TOML: {exc}") from None
        return cls.from_dict(data)

    def validate(self) -> None:
        """Check the tuning budget, the labels and the record sizes (raises :class:`SpecError`)."""
        t = self.tuning
        if t.method not in ("grid", "random"):
            raise _err("tuning.method", f"must be 'grid' or 'random', got {t.method!r}")
        labels = [o.label for o in self.optimizers]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise _err("optimizers", f"label {dup[0]!r} is used twice; give each a 'label'")
        lands = [x.label for x in self.landscapes]
        dup = sorted({x for x in lands if lands.count(x) > 1})
        if dup:
            raise _err("landscapes", f"{dup[0]!r} is listed twice")
        if len(set(self.seeds)) != len(self.seeds):
            raise _err("seeds", "a seed is listed twice")
        sizes = {o.label: len(self.configs(o)) for o in self.optimizers}
        if len(set(sizes.values())) > 1:
            raise _err(
                "tuning",
                "unequal tuning budgets ("
                + ", ".join(f"{k}: {v}" for k, v in sizes.items())
                + " configurations); every optimizer must get the same number of trials",
            )
        n_cells = len(self.landscapes) * sum(sizes.values()) * len(self.seeds)
        if n_cells > MAX_CELLS:
            raise _err("top level", f"{n_cells:,} cells; at most {MAX_CELLS:,} per sweep")
        T = self.steps // self.record_every + 2
        for L in self.landscapes:
            dim = L.build().dim
            need = 8 * T * self.starts * (dim + 2)
            if need > MAX_RECORD_BYTES:
                fit = math.ceil(8 * self.steps * self.starts * (dim + 2) / MAX_RECORD_BYTES)
                raise _err(
                    "record_every",
                    f"{L.label}: {self.starts} starts x {self.steps} steps in d={dim} need "
                    f"{need / 2**20:.0f} MiB of records; use record_every >= {fit} or fewer starts",
                )

    def configs(self, opt: OptimizerEntry) -> list[dict[str, Any]]:
        """The configurations ``opt`` is tried with (grid or random search)."""
        t = self.tuning
        if t.method == "grid":
            if opt.has_distributions():
                raise _err(
                    f"optimizers[{opt.label}].search",
                    "distributions need tuning.method = 'random'; a grid takes lists",
                )
            grid = opt.grid()
            if t.trials is not None and len(grid) != t.trials:
                raise _err(
                    "tuning",
                    f"{opt.label}'s grid has {len(grid)} points but tuning.trials = {t.trials}; "
                    "every optimizer must get the same number of trials",
                )
            return grid
        if t.trials is None:
            raise _err("tuning.trials", "random search needs the number of trials")
        if not opt.search:
            raise _err(f"optimizers[{opt.label}].search", "random search needs a search space")
        return opt.sample(t.trials, t.seed)

    # -------------------------------------------------------------- cells and identity
    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order: landscape, optimizer, configuration, seed."""
        out = []
        for L in self.landscapes:
            for o in self.optimizers:
                for j, cfg in enumerate(self.configs(o)):
                    items = tuple(sorted(cfg.items()))
                    for s in self.seeds:
                        out.append(Cell(L, o, items, j, s))
        return out

    def settings(self) -> dict[str, Any]:
        """What every stored result depends on besides its cell: a store refuses to mix cells
        run under different settings."""
        return {
            "starts": self.starts,
            "steps": self.steps,
            "targets": list(self.targets),
            "grad_tol": self.grad_tol,
            "bound": None if math.isinf(self.bound) else self.bound,
            "record_every": self.record_every,
            "tuning": {"method": self.tuning.method, "trials": self.tuning.trials},
        }

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "seeds": list(self.seeds),
            "starts": self.starts,
            "steps": self.steps,
            "targets": list(self.targets),
            "bound": None if math.isinf(self.bound) else self.bound,
            "record_every": self.record_every,
            "tuning": {"method": self.tuning.method, "seed": self.tuning.seed},
            "landscapes": [x.to_dict() for x in self.landscapes],
            "optimizers": [x.to_dict() for x in self.optimizers],
        }
        if self.tuning.trials is not None:
            d["tuning"]["trials"] = self.tuning.trials
        if self.grad_tol is not None:
            d["grad_tol"] = self.grad_tol
        return d


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"sweep spec: no such file: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"sweep spec: cannot read {p}: {exc}") from None
    return SweepSpec.from_toml(text)
