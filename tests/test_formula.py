"""Formula landscapes: values, derivatives, every refusal with its position, and robustness."""

from __future__ import annotations

import math
import pickle
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special

from descentlab.errors import DescentlabError, DimensionError, FormulaError, InvalidParameterError
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.formula import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    MAX_OPERATORS,
    formula_landscape,
    parse_formula,
)

F64 = torch.float64


def _points(n: int, d: int, lo: float, hi: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=(n, d))


def _eval(expr: str, P: np.ndarray) -> np.ndarray:
    fn, _, _ = parse_formula(expr)
    return fn(torch.as_tensor(P, dtype=F64)).numpy()


# --------------------------------------------------------------------------- values

# (formula, numpy oracle on columns, dimension, sampling interval)
VALUE_CASES = [
    ("x**4 - 2*x**2 + y**2", lambda x, y: x**4 - 2 * x**2 + y**2, 2, (-3, 3)),
    ("x^4 - 2*x^2 + y^2", lambda x, y: x**4 - 2 * x**2 + y**2, 2, (-3, 3)),
    ("-x**2", lambda x: -(x**2), 1, (-3, 3)),
    ("-x^2", lambda x: -(x**2), 1, (-3, 3)),
    ("(-x)**2", lambda x: x**2, 1, (-3, 3)),
    ("2**x**y", lambda x, y: 2.0 ** (x**y), 2, (0.1, 2)),
    ("2^x^y", lambda x, y: 2.0 ** (x**y), 2, (0.1, 2)),
    ("(2**x)**y", lambda x, y: (2.0**x) ** y, 2, (0.1, 2)),
    ("x**-2", lambda x: x**-2.0, 1, (0.5, 3)),
    ("x - y - z", lambda x, y, z: x - y - z, 3, (-3, 3)),
    ("x - (y - z)", lambda x, y, z: x - (y - z), 3, (-3, 3)),
    ("x / y / z", lambda x, y, z: x / y / z, 3, (0.5, 3)),
    ("x / (y * z)", lambda x, y, z: x / (y * z), 3, (0.5, 3)),
    ("x + y*z - x/y", lambda x, y, z: x + y * z - x / y, 3, (0.5, 3)),
    ("+x - -y", lambda x, y: x + y, 2, (-3, 3)),
    ("1.5e-1*x + 2E1", lambda x: 0.15 * x + 20.0, 1, (-3, 3)),
    ("3*pi*e + .5*x", lambda x: 3 * np.pi * np.e + 0.5 * x, 1, (-3, 3)),
    ("y", lambda x, y: y, 2, (-3, 3)),
    ("x3", lambda x1, x2, x3: x3, 3, (-3, 3)),
    ("x1*x2 + x10", lambda *c: c[0] * c[1] + c[9], 10, (-3, 3)),
    ("sin(x) + cos(y) + tan(z)", lambda x, y, z: np.sin(x) + np.cos(y) + np.tan(z), 3, (-1, 1)),
    (
        "asin(x) + acos(y) + atan(z)",
        lambda x, y, z: np.arcsin(x) + np.arccos(y) + np.arctan(z),
        3,
        (-0.9, 0.9),
    ),
    (
        "sinh(x) * cosh(y) - tanh(z)",
        lambda x, y, z: np.sinh(x) * np.cosh(y) - np.tanh(z),
        3,
        (-2, 2),
    ),
    (
        "asinh(x) + acosh(y) + atanh(z/4)",
        lambda x, y, z: np.arcsinh(x) + np.arccosh(y) + np.arctanh(z / 4),
        3,
        (1.1, 3),
    ),
    ("exp(x) + log(y) + log2(z)", lambda x, y, z: np.exp(x) + np.log(y) + np.log2(z), 3, (0.1, 3)),
    (
        "log10(x) + log1p(y) + expm1(z)",
        lambda x, y, z: np.log10(x) + np.log1p(y) + np.expm1(z),
        3,
        (0.1, 3),
    ),
    ("sqrt(x) + abs(y - 1)", lambda x, y: np.sqrt(x) + np.abs(y - 1), 2, (0.1, 3)),
    ("sigmoid(x) + softplus(y)", lambda x, y: special.expit(x) + np.logaddexp(y, 0), 2, (-30, 30)),
    ("relu(x) - sign(y)", lambda x, y: np.maximum(x, 0) - np.sign(y), 2, (-3, 3)),
    ("erf(x)", lambda x: special.erf(x), 1, (-3, 3)),
    ("min(x, y) + max(x, 1)", lambda x, y: np.minimum(x, y) + np.maximum(x, 1), 2, (-3, 3)),
    ("atan2(y, x)", lambda x, y: np.arctan2(y, x), 2, (-3, 3)),
    ("atan2(1, x)", lambda x: np.arctan2(1.0, x), 1, (-3, 3)),
    (
        "(1 - x)**2 + 100*(y - x**2)**2",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        2,
        (-2, 2),
    ),
    ("x\n  + y\t*\r\n2", lambda x, y: x + y * 2, 2, (-3, 3)),
    ("   x*y  ", lambda x, y: x * y, 2, (-3, 3)),
    ("2**10 + x", lambda x: 1024.0 + x, 1, (-3, 3)),
]


@pytest.mark.parametrize(
    ("expr", "oracle", "d", "box"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES]
)
def test_values_match_numpy(expr, oracle, d, box):
    P = _points(64, d, *box)
    got = _eval(expr, P)
    want = oracle(*P.T)
    assert got.shape == (64,)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert parse_formula(expr).n_vars == d


def test_every_function_is_covered_by_a_value_case():
    used = " ".join(c[0] for c in VALUE_CASES)
    for name in FUNCTIONS:
        assert f"{name}(" in used, name


def test_softplus_has_no_cutoff_and_no_overflow():
    P = np.array([[25.0], [800.0], [-800.0]])
    np.testing.assert_allclose(_eval("softplus(x)", P), np.logaddexp(P[:, 0], 0), rtol=1e-15)


@pytest.mark.parametrize(
    ("expr", "text", "n_vars"),
    [
        ("x^4 - 2*x^2 + y^2", "x**4 - 2*x**2 + y**2", 2),
        ("((x))", "x", 1),
        ("(x*y)/z", "x*y/z", 3),
        ("x*(y+z)", "x*(y + z)", 3),
        ("x-(y-z)", "x - (y - z)", 3),
        ("(x-y)-z", "x - y - z", 3),
        ("-(x*y)", "-(x*y)", 2),
        ("(-x)**2", "(-x)**2", 1),
        ("(x**2)**3", "(x**2)**3", 1),
        ("x**(y**2)", "x**y**2", 2),
        ("1.50*x + 1e-5", "1.5*x + 1e-05", 1),
        ("max( x1 ,x2 )", "max(x1, x2)", 2),
        ("pi", "pi", 0),
        ("2*e", "2*e", 0),
    ],
)
def test_normalised_text(expr, text, n_vars):
    fn, n, out = parse_formula(expr)
    assert (out, n, fn.text) == (text, n_vars, text)
    assert parse_formula(out).text == out  # idempotent


def test_parse_result_is_a_named_tuple_with_variables():
    parsed = parse_formula("x2 + x5")
    assert parsed.n_vars == 5 and parsed.fn.variables == ("x1", "x2", "x3", "x4", "x5")
    assert parse_formula("y").fn.variables == ("x", "y")


# --------------------------------------------------------------------------- derivatives


def test_gradient_and_hessian_closed_form_double_well():
    L = Landscape.from_formula("x**4 - 2*x**2 + y**2", domain=(-2, 2, -2, 2))
    P = torch.as_tensor(_points(50, 2, -2, 2, seed=1), dtype=F64)
    x, y = P[:, 0], P[:, 1]
    v, g = L.value_and_grad(P)
    torch.testing.assert_close(v, x**4 - 2 * x**2 + y**2, rtol=0, atol=1e-13)
    torch.testing.assert_close(g, torch.stack([4 * x**3 - 4 * x, 2 * y], 1), rtol=0, atol=1e-12)
    H = L.hessian(P)
    want = torch.zeros(50, 2, 2, dtype=F64)
    want[:, 0, 0] = 12 * x**2 - 4
    want[:, 1, 1] = 2
    torch.testing.assert_close(H, want, rtol=0, atol=1e-12)


def test_gradient_and_hessian_closed_form_sin_exp():
    L = formula_landscape("sin(x)*exp(y)")
    P = torch.as_tensor(_points(40, 2, -2, 2, seed=2), dtype=F64)
    s, c, ey = torch.sin(P[:, 0]), torch.cos(P[:, 0]), torch.exp(P[:, 1])
    torch.testing.assert_close(L.grad(P), torch.stack([c * ey, s * ey], 1), rtol=1e-14, atol=1e-14)
    H = torch.stack([torch.stack([-s * ey, c * ey], 1), torch.stack([c * ey, s * ey], 1)], 1)
    torch.testing.assert_close(L.hessian(P), H, rtol=1e-13, atol=1e-13)


def test_gradient_and_hessian_closed_form_indexed_with_extra_dim():
    L = formula_landscape("x1*x2*x3 + x3^2/2", dim=4)
    P = torch.as_tensor(_points(30, 4, -2, 2, seed=3), dtype=F64)
    x1, x2, x3 = P[:, 0], P[:, 1], P[:, 2]
    z = torch.zeros_like(x1)
    g = torch.stack([x2 * x3, x1 * x3, x1 * x2 + x3, z], 1)
    torch.testing.assert_close(L.grad(P), g, rtol=0, atol=1e-13)
    one = torch.ones_like(x1)
    H = torch.stack(
        [
            torch.stack([z, x3, x2, z], 1),
            torch.stack([x3, z, x1, z], 1),
            torch.stack([x2, x1, one, z], 1),
            torch.stack([z, z, z, z], 1),
        ],
        1,
    )
    torch.testing.assert_close(L.hessian(P), H, rtol=0, atol=1e-13)


def test_hessian_matches_torch_func_on_a_rich_formula():
    expr = (
        "log1p(x^2) * atan2(y, 2 + cos(z)) + softplus(x*y) - sqrt(1 + z^2)/sigmoid(y) + max(x, z)^2"
    )

    def scalar(p):
        x, y, z = p[0], p[1], p[2]
        return (
            torch.log1p(x**2) * torch.atan2(y, 2 + torch.cos(z))
            + torch.nn.functional.softplus(x * y, threshold=1e9)
            - torch.sqrt(1 + z**2) / torch.sigmoid(y)
            + torch.maximum(x, z) ** 2
        )

    L = formula_landscape(expr)
    P = torch.as_tensor(_points(12, 3, -2, 2, seed=4), dtype=F64)
    H = L.hessian(P)
    g = L.grad(P)
    for i in range(P.shape[0]):
        torch.testing.assert_close(H[i], torch.func.hessian(scalar)(P[i]), rtol=1e-11, atol=1e-11)
        torch.testing.assert_close(g[i], torch.func.grad(scalar)(P[i]), rtol=1e-12, atol=1e-12)


def test_constant_formula_has_zero_gradient_and_hessian():
    L = formula_landscape("2*pi", dim=2)
    P = torch.as_tensor(_points(5, 2, -1, 1), dtype=F64)
    v, g = L.value_and_grad(P)
    torch.testing.assert_close(v, torch.full((5,), 2 * math.pi, dtype=F64))
    assert torch.equal(g, torch.zeros(5, 2, dtype=F64))
    assert torch.equal(L.hessian(P), torch.zeros(5, 2, 2, dtype=F64))


def test_bare_variable_does_not_alias_the_input():
    fn, _, _ = parse_formula("+x")
    P = torch.ones(3, 1, dtype=F64)
    out = fn(P)
    P.add_(1.0)
    assert out.tolist() == [1.0, 1.0, 1.0]


def test_unused_variable_and_x_style_dimension():
    L = formula_landscape("y**2")
    assert L.dim == 2
    g = L.grad([[3.0, 2.0]])
    assert g.tolist() == [[0.0, 4.0]]


# --------------------------------------------------------------------------- landscape


def test_landscape_attributes_and_default_domain():
    L = Landscape.from_formula("x^4 - 2*x^2 + y^2")
    assert isinstance(L, Landscape)
    assert (L.dim, L.name, L.formula) == (2, "formula", "x**4 - 2*x**2 + y**2")
    assert L.domain == ((-5.0, 5.0), (-5.0, 5.0))
    assert L.critical_points is None and not L.complete and L.global_min_value is None
    assert L.dtype == F64
    assert L.value([1.0, 0.0]).tolist() == [-1.0]


def test_landscape_domains_and_dim():
    L = formula_landscape("x + y", domain=[-1, 1, -2, 3], name="plane")
    assert L.domain == ((-1.0, 1.0), (-2.0, 3.0)) and L.name == "plane"
    assert formula_landscape("x", domain=(0, 1), dim=3).domain == ((0.0, 1.0),) * 3
    assert formula_landscape("x1 + x2", dim=5).dim == 5
    assert formula_landscape("1").dim == 1
    assert formula_landscape("x", dim=np.int64(2)).dim == 2
    with pytest.raises(InvalidParameterError):
        formula_landscape("x + y", domain=[-1, 1, -2, 3, 0, 1])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidParameterError):
            formula_landscape("x", dim=bad)


def test_dim_smaller_than_formula_points_at_the_variable():
    with pytest.raises(FormulaError) as e:
        formula_landscape("x + z + z", dim=2)
    assert e.value.position in (4, 8) and "dim=2" in str(e.value)
    with pytest.raises(FormulaError) as e:
        formula_landscape("x1 + x7", dim=3)
    assert e.value.position == 5


def test_formula_landscape_pickles():
    L = formula_landscape("x^2 * sin(y) - 3/z", dim=4)
    L2 = pickle.loads(pickle.dumps(L))
    P = torch.as_tensor(_points(6, 4, 0.5, 2), dtype=F64)
    assert torch.equal(L2.value(P), L.value(P)) and L2.formula == L.formula and L2.dim == 4


def test_power_gradients_at_zero():
    P = torch.zeros(1, 1, dtype=F64)
    for expr, g, h in [
        ("x**0", 0.0, 0.0),
        ("x**1", 1.0, 0.0),
        ("x**2", 0.0, 2.0),
        ("x^3", 0.0, 0.0),
    ]:
        L = formula_landscape(expr)
        assert L.grad(P).item() == g and L.hessian(P).item() == h, expr


def test_compiled_formula_checks_point_shape():
    fn, _, _ = parse_formula("x + z")
    with pytest.raises(DimensionError):
        fn(torch.zeros(4, 2, dtype=F64))
    with pytest.raises(DimensionError):
        fn(torch.zeros(4, dtype=F64))
    assert fn(torch.ones(4, 5, dtype=F64)).tolist() == [2.0] * 4


# --------------------------------------------------------------------------- errors

# (formula, expected 0-based position, words the message must contain)
ERROR_CASES = [
    ("", 0, "empty"),
    ("   \n ", 0, "empty"),
    ("x + foo", 4, "unknown name 'foo'"),
    ("\uff58 + foo", 4, "unknown name 'foo'"),  # fullwidth x: 3 UTF-8 bytes, still the name x
    ("\uff58*\uff58 + é", 6, "unknown name 'é'"),
    ("x^2 + foo", 6, "unknown name 'foo'"),
    ("  foo", 2, "unknown name"),
    ("x +\nfoo", 4, "unknown name"),
    ("sinn(x)", 0, "did you mean 'sin'"),
    ("x + bar(y)", 4, "unknown function 'bar'"),
    ("sin(x, y)", 0, "takes 1 argument, got 2"),
    ("x + atan2(y)", 4, "takes 2 arguments, got 1"),
    ("max()", 0, "takes 2 arguments, got 0"),
    ("sin", 0, "is a function"),
    ("x(2)", 0, "not a function"),
    ("2*pi(x)", 2, "not a function"),
    ("x + x1", 4, "mixes"),
    ("x1 + y", 5, "mixes"),
    ("x0 + 1", 0, "numbered variables"),
    ("x01", 0, "numbered variables"),
    ("x1 + x10001", 5, "beyond"),
    ("x.real", 0, "attribute"),
    ("sin.x(1)", 0, "attribute"),
    ("x[0]", 0, "subscript"),
    ("lambda: 1", 0, "lambda"),
    ("x < y", 2, "comparison"),
    ("x + 1 == y", 6, "comparison"),
    ("x and y", 0, "boolean"),
    ("x if y else z", 0, "conditional"),
    ("(x := 2)", 1, ":="),
    ("[x for x in y]", 0, "comprehension"),
    ("sin(x for x in y)", 3, "comprehension"),
    ("[x, y]", 0, "list"),
    ("x, y", 0, "tuple"),
    ("{x}", 0, "set"),
    ("{x: y}", 0, "dict"),
    ("x + 'a'", 4, "strings"),
    ("b'a'", 0, "bytes"),
    ('f"{x}"', 0, "f-string"),
    ("True + x", 0, "booleans"),
    ("None", 0, "None"),
    ("2j*x", 0, "complex"),
    ("...", 0, "'...'"),
    ("sin(x=1)", 4, "keyword"),
    ("max(*x)", 4, "starred"),
    ("x % 2", 2, "modulo"),
    ("x // 2", 2, "floor division"),
    ("(x) @ y", 4, "matrix"),
    ("x & y", 2, "bitwise"),
    ("x | y", 2, "bitwise"),
    ("x << 2", 2, "shift"),
    ("not x", 0, "'not'"),
    ("~x", 0, "bitwise not"),
    ("x + * y", 4, "syntax error"),
    ("x +", 3, "syntax error"),
    ("x + ", 3, "syntax error"),
    ("sin(x", 3, "never closed"),
    ("x )", 2, "unmatched"),
    ("2x", 1, "write 2*x"),
    ("3 + 2.5e3y", 9, "write 2.5e3*y"),
    ("1if x else 2", 1, "number cannot be followed directly by a name"),
    ("x + 1or 2", 5, "number cannot be followed directly by a name"),
    ("x + \\\n y", 4, "backslashes"),
    ("x + 'a\\d'", 6, "backslashes"),
    ("x^^2", 2, "syntax error"),
    ("éé + $", 5, "syntax error"),
    ("x\u00a0+ y", 1, "syntax error"),
    ("x = 1", 2, "syntax error"),
    ("x # comment", 2, "comments"),
    ("x\x00", 1, "NUL"),
    ("x + \ud800", 4, "surrogate"),
    ("9**9**9", 0, "constant 9**9**9"),
    ("x + 10**400", 4, "constant 10**400"),
    ("x + 10^400", 4, "constant 10**400"),
    ("x*2**1024", 2, "evaluates to inf"),
    ("1e400 * x", 0, "too large"),
    ("x + " + "9" * 400, 4, "too large"),
    ("x + " + "1" * 5000, 4, "too large"),
    ("x + 1/0", 4, "division by zero"),
    ("log(0) + x", 0, "constant log(0)"),
    ("sqrt(-1) * x", 0, "constant sqrt(-1)"),
    ("x + (-8)**(1/3)", 4, "constant"),
    # depth is counted from the inside: the error names the first node past the limit
    ("sin(" * 101 + "x" + ")" * 101, 4, f"more than {MAX_DEPTH} levels"),
    ("x" + "**x" * 101, 3, f"more than {MAX_DEPTH} levels"),
    ("-" * 101 + "x", 1, f"more than {MAX_DEPTH} levels"),
    ("(" * 250 + "x" + ")" * 250, 200, "too many nested parentheses"),
    ("-" * (MAX_OPERATORS + 10) + "x", MAX_OPERATORS, "operators"),
    ("x" * (MAX_LENGTH + 1), MAX_LENGTH, "characters long"),
    ("not " * 2400 + "x", None, None),  # deep parser input: refused, position 0 or at 'not'
]


@pytest.mark.parametrize(
    ("expr", "pos", "words"), ERROR_CASES, ids=[repr(c[0][:30]) for c in ERROR_CASES]
)
def test_error_cases(expr, pos, words):
    with pytest.raises(FormulaError) as e:
        parse_formula(expr)
    err = e.value
    assert isinstance(err, DescentlabError) and isinstance(err, ValueError)
    assert isinstance(err.position, int) and 0 <= err.position <= len(expr)
    if pos is not None:
        assert err.position == pos, str(err)
        assert str(err).endswith(f"at position {pos}")
    if words is not None:
        assert words in str(err), str(err)
    assert err.formula == expr or len(expr) > MAX_LENGTH


def test_unknown_name_lists_what_is_allowed():
    with pytest.raises(FormulaError) as e:
        parse_formula("w + 1")
    msg = str(e.value)
    for word in ("x, y, z", "x1", *FUNCTIONS, "pi", "e"):
        assert word in msg
    with pytest.raises(FormulaError) as e:
        parse_formula("floor(x)")
    assert all(f in str(e.value) for f in FUNCTIONS)


def test_non_string_input():
    for bad in (None, 3, b"x", ["x"]):
        with pytest.raises(FormulaError):
            parse_formula(bad)  # type: ignore[arg-type]


def test_node_limit():
    expr = "*".join(["sin(x)"] * 1400)  # 3 nodes per factor plus the products
    assert len(expr) < MAX_LENGTH and 1400 * 4 - 1 > MAX_NODES
    with pytest.raises(FormulaError, match="syntax nodes"):
        parse_formula(expr)


def test_long_flat_sums_are_fine():
    d = 1000
    expr = " + ".join(f"x{i}^2" for i in range(1, d + 1))
    fn, n, _ = parse_formula(expr)
    P = torch.as_tensor(_points(3, d, -1, 1), dtype=F64)
    assert n == d
    torch.testing.assert_close(fn(P), (P**2).sum(1), rtol=1e-14, atol=0)
    expr = "x" + "*x" * 1500 + " - 1"
    fn, _, _ = parse_formula(expr)
    assert fn(torch.tensor([[1.0]], dtype=F64)).tolist() == [0.0]
    fn, _, _ = parse_formula("+".join(["x"] * (MAX_OPERATORS + 1)))  # exactly at the limit
    assert fn(torch.tensor([[1.0]], dtype=F64)).tolist() == [MAX_OPERATORS + 1.0]
    fn, _, _ = parse_formula("(" * 199 + "x" + ")" * 199)
    assert fn(torch.tensor([[2.0]], dtype=F64)).tolist() == [2.0]


def test_division_by_a_variable_zero_is_not_refused():
    assert _eval("1 / x", np.array([[0.0]])).tolist() == [math.inf]


# --------------------------------------------------------------------------- sizes are fast


@pytest.mark.parametrize(
    "expr",
    [
        "x" * 10_000_000,
        "(" * 5_000_000 + "x" + ")" * 5_000_000,
        "9**9**9",
        "9^9^9^9^9",
        "10**400",
        "x**10**400",
        "2**2**2**2**2**2**2",
        "1" * 9000,
        "-" * 1999 + "x",
        "x.a" * 3000,
        "not " * 2400 + "x",
        "sin(" * 199 + "x" + ")" * 199,
        "+".join(["x"] * (MAX_OPERATORS + 2)),
    ],
    ids=lambda s: repr(s[:12]) + f"..{len(s)}",
)
def test_absurd_inputs_are_refused_quickly(expr):
    t0 = time.perf_counter()
    with pytest.raises(FormulaError):
        parse_formula(expr)
    assert time.perf_counter() - t0 < 0.5


# --------------------------------------------------------------------------- property tests

_ALPHABET = st.sampled_from(
    [
        *"xyz0123456789+-*/^().,e ",
        *("x1", "x2", "**", "sin", "exp", "pi", "max", "atan2", "log"),
        *"#@%<>=![]{}'\"\\:;\n\t_éπ\x00",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(max_size=60)
    | st.lists(_ALPHABET, max_size=40).map("".join)
    | st.text(st.characters(max_codepoint=0xFFFF, categories=["Cs", "Zs", "Cc", "Ll"]), max_size=8)
)
def test_random_text_only_raises_formula_error(text):
    try:
        fn, n, norm = parse_formula(text)
    except FormulaError as err:
        assert isinstance(err.position, int) and 0 <= err.position <= len(text)
        return
    P = torch.as_tensor(_points(4, max(n, 1), -2, 2), dtype=F64)
    out = fn(P)
    assert out.shape == (4,) and out.dtype == F64
    again = parse_formula(norm)
    assert again.text == norm and again.n_vars == n
    torch.testing.assert_close(again.fn(P), out, rtol=0, atol=0, equal_nan=True)


_UNARY = ["sin", "cos", "tanh", "atan", "sigmoid", "softplus", "abs", "exp", "log", "sqrt", "relu"]
_BINARY_FUNCS = {"min": torch.minimum, "max": torch.maximum, "atan2": torch.atan2}
_VARS = {"x": 0, "y": 1, "z": 2}


def _leaf():
    var = st.sampled_from(sorted(_VARS)).map(lambda v: (v, lambda P, i=_VARS[v]: P[:, i]))
    num = st.sampled_from([0.5, 1.0, 2.0, 3.0, 1e-3, 2.5e2]).map(
        lambda c: (repr(c), lambda P, c=c: torch.full((P.shape[0],), c, dtype=F64))
    )
    const = st.sampled_from([("pi", math.pi), ("e", math.e)]).map(
        lambda t: (t[0], lambda P, c=t[1]: torch.full((P.shape[0],), c, dtype=F64))
    )
    return var | num | const


def _extend(children):
    def binop(args):
        (ta, fa), op, (tb, fb), power = args
        if op == "**":
            sym = power
            return f"({ta}{sym}{tb})", lambda P: torch.pow(fa(P), fb(P))
        ops = {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div}
        return f"({ta} {op} {tb})", lambda P: ops[op](fa(P), fb(P))

    def unary(args):
        name, (t, f) = args
        return f"{name}({t})", lambda P: FUNCTIONS[name].impl(f(P))

    def binary_func(args):
        name, (ta, fa), (tb, fb) = args
        return f"{name}({ta},{tb})", lambda P: _BINARY_FUNCS[name](fa(P), fb(P))

    def neg(args):
        t, f = args
        return f"(-{t})", lambda P: -f(P)

    return (
        st.tuples(
            children,
            st.sampled_from(["+", "-", "*", "/", "**"]),
            children,
            st.sampled_from(["**", "^"]),
        ).map(binop)
        | st.tuples(st.sampled_from(_UNARY), children).map(unary)
        | st.tuples(st.sampled_from(sorted(_BINARY_FUNCS)), children, children).map(binary_func)
        | children.map(neg)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(_leaf(), _extend, max_leaves=12))
def test_generated_formulas_evaluate_like_the_tree_they_spell(case):
    text, oracle = case
    P = torch.as_tensor(_points(8, 3, -2, 2, seed=5), dtype=F64)
    try:
        fn, n, norm = parse_formula(text)
    except FormulaError as err:
        # Only a constant part that is not finite (e.g. log(0), 1/0, overflow) may be refused.
        assert "constant" in str(err), str(err)
        return
    X = P[:, : max(n, 1)]
    torch.testing.assert_close(fn(X), oracle(P), rtol=1e-12, atol=1e-12, equal_nan=True)
    torch.testing.assert_close(parse_formula(norm).fn(X), fn(X), rtol=0, atol=0, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(st.recursive(_leaf(), _extend, max_leaves=8), st.integers(0, 3))
def test_generated_formulas_survive_mutation(case, seed):
    """Cut, duplicate or splice characters of a valid formula: still only FormulaError."""
    text = case[0]
    rng = np.random.default_rng(seed)
    for _ in range(5):
        i, j = sorted(rng.integers(0, len(text) + 1, size=2))
        mutated = [text[:i] + text[j:], text[:j] + text[i:], text[:i] + "^(" + text[i:]][seed % 3]
        try:
            parse_formula(mutated)
        except FormulaError as err:
            assert isinstance(err.position, int) and 0 <= err.position <= len(mutated)
