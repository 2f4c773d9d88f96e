"""Formula landscapes: a safe expression string -> a batched torch objective.

A formula such as ``"x**4 - 2*x**2 + y**2"`` is parsed with Python's ``ast`` module
(``mode="eval"``, which only builds a syntax tree) and checked node by node against a whitelist.
The accepted tree is compiled once into a tree of small torch closures; user text is never
``eval``'ed, ``exec``'ed, compiled to code objects or handed to a symbolic engine.

Grammar (a subset of Python expressions):

* **variables**: ``x, y, z`` (dimension 1 to 3, in that order: a formula using only ``y`` is
  still 2-D) or ``x1, x2, ..., xn`` (dimension = highest index, numbered from 1, at most
  ``MAX_VARIABLE_INDEX``). The two styles cannot be mixed in one formula.
* **operators**: ``+ - * /``, ``**`` for powers, unary ``-`` and ``+``, parentheses.
  ``^`` is accepted as a synonym of ``**`` (power, right-associative, binding tighter than unary
  minus, so ``-x^2 == -(x**2)``); bitwise xor is never meant in a formula.
* **numbers**: integer and decimal literals, scientific notation (``1.5e-3``).
* **functions** (see ``FUNCTIONS``): ``sin cos tan asin acos atan sinh cosh tanh asinh acosh
  atanh exp log log2 log10 log1p expm1 sqrt abs sigmoid softplus relu sign erf`` (one argument)
  and ``min max atan2`` (two arguments). ``floor``/``ceil``/``round`` are deliberately absent:
  they are flat almost everywhere, so every point would be "critical" and gradient descent would
  not move — not a landscape this lab can say anything about. ``sign`` is kept because its single
  jump is useful in combinations such as ``sign(x)*sqrt(abs(x))``.
* **constants**: ``pi`` and ``e``.

Everything is float64 arithmetic. Sub-expressions without variables are folded to one number
when the formula is compiled; a constant that is not finite (``9**9**9``, ``10**400``,
``1/0``, ``log(0)``, ``1e400``) is refused. Sizes are bounded before any real work: at most
``MAX_LENGTH`` characters, ``MAX_OPERATORS`` operator characters, ``MAX_NODES`` syntax-tree
nodes and ``MAX_DEPTH`` levels of nesting (a chain ``a + b - c + ...`` or ``a * b / c`` counts
as one level), so any input is accepted or refused in milliseconds.

Every refusal is a :class:`~descentlab.errors.FormulaError` whose ``position`` is the 0-based
index into the original string of the offending character or construct.

Example:
    >>> import torch
    >>> from descentlab.landscapes.formula import formula_landscape, parse_formula
    >>> fn, n_vars, text = parse_formula("x^4 - 2*x^2 + y^2")
    >>> n_vars, text
    (2, 'x**4 - 2*x**2 + y**2')
    >>> fn(torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)).tolist()
    [-1.0, 4.0]
    >>> L = formula_landscape("sin(x1) + x3", dim=4)
    >>> L.dim, L.domain[0]
    (4, (-5.0, 5.0))
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from descentlab.errors import DimensionError, FormulaError, InvalidParameterError
from descentlab.landscapes.base import Landscape

__all__ = [
    "CONSTANTS",
    "DEFAULT_DOMAIN",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_OPERATORS",
    "MAX_VARIABLE_INDEX",
    "CompiledFormula",
    "ParsedFormula",
    "formula_landscape",
    "parse_formula",
]

Tensor = torch.Tensor
Value = Tensor | float

MAX_LENGTH = 10_000
"""Longest formula accepted, in characters (checked before anything else)."""
MAX_OPERATORS = 2_000
"""Most operator characters (``+ - * / ^ % @ & | ~ < > = !``, ``**`` counting once) accepted;
checked before parsing, it also keeps the parser's own recursion far from its limits."""
MAX_NODES = 5_000
"""Most expression nodes (numbers, names, operations, calls) accepted."""
MAX_DEPTH = 100
"""Deepest nesting accepted (a flat chain of ``+``/``-`` or of ``*``/``/`` is one level)."""
MAX_VARIABLE_INDEX = 10_000
"""Highest ``xN`` accepted."""
DEFAULT_DOMAIN = (-5.0, 5.0)
"""Plotting/sampling interval of every dimension when no domain is given."""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants a formula may use."""

_XYZ = ("x", "y", "z")
_INDEXED = re.compile(r"x(\d+)")
_OPERATOR_CHARS = frozenset("+-*/^%@&|~<>=!")
# A numeric literal glued to a letter ("2x", "1if"): not a product, and a tokenizer warning.
_NUMBER_THEN_NAME = re.compile(
    r"(?<![\w.])((?>(?:0[xXoObB][0-9a-fA-F_]*|\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)"
    r"(?:[eE][+-]?\d[\d_]*)?))(?![jJ]\b)([^\W\d]\w*)"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = str.maketrans(dict.fromkeys("\t\n\r\x0b\x0c", " "))


# ----------------------------------------------------------------------------- functions


def _like(v: Value, ref: Tensor) -> Tensor:
    """A float argument as a 0-d tensor that broadcasts against ``ref``."""
    if isinstance(v, Tensor):
        return v
    return torch.as_tensor(v, dtype=ref.dtype, device=ref.device)


def _binary(op: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Value, Value], Tensor]:
    def run(a: Value, b: Value) -> Tensor:
        ref = a if isinstance(a, Tensor) else b
        assert isinstance(ref, Tensor)  # both-constant calls are folded with tensors
        return op(_like(a, ref), _like(b, ref))

    return run


def _softplus(t: Tensor) -> Tensor:
    # log(1 + e^t) without overflow and without torch's linear cut-off at t > 20.
    return torch.logaddexp(t, torch.zeros_like(t))


@dataclass(frozen=True)
class _Function:
    arity: int
    impl: Callable[..., Tensor]
    math: str


FUNCTIONS: dict[str, _Function] = {
    "sin": _Function(1, torch.sin, "sin t"),
    "cos": _Function(1, torch.cos, "cos t"),
    "tan": _Function(1, torch.tan, "tan t"),
    "asin": _Function(1, torch.asin, "arcsin t"),
    "acos": _Function(1, torch.acos, "arccos t"),
    "atan": _Function(1, torch.atan, "arctan t"),
    "sinh": _Function(1, torch.sinh, "sinh t"),
    "cosh": _Function(1, torch.cosh, "cosh t"),
    "tanh": _Function(1, torch.tanh, "tanh t"),
    "asinh": _Function(1, torch.asinh, "arsinh t"),
    "acosh": _Function(1, torch.acosh, "arcosh t"),
    "atanh": _Function(1, torch.atanh, "artanh t"),
    "exp": _Function(1, torch.exp, "e^t"),
    "log": _Function(1, torch.log, "natural logarithm"),
    "log2": _Function(1, torch.log2, "base-2 logarithm"),
    "log10": _Function(1, torch.log10, "base-10 logarithm"),
    "log1p": _Function(1, torch.log1p, "log(1 + t), accurate near 0"),
    "expm1": _Function(1, torch.expm1, "e^t - 1, accurate near 0"),
    "sqrt": _Function(1, torch.sqrt, "square root"),
    "abs": _Function(1, torch.abs, "|t| (gradient 0 at 0)"),
    "sigmoid": _Function(1, torch.sigmoid, "1 / (1 + e^-t)"),
    "softplus": _Function(1, _softplus, "log(1 + e^t)"),
    "relu": _Function(1, torch.relu, "max(t, 0) (gradient 0 at 0)"),
    "sign": _Function(1, torch.sign, "-1, 0 or 1 (gradient 0)"),
    "erf": _Function(1, torch.erf, "error function"),
    "min": _Function(2, _binary(torch.minimum), "smaller of a and b"),
    "max": _Function(2, _binary(torch.maximum), "larger of a and b"),
    "atan2": _Function(2, _binary(torch.atan2), "angle of the point (b, a): atan2(a, b)"),
}
"""Functions a formula may call: name -> arity, torch implementation, meaning."""


def _allowed_names() -> str:
    return (
        "variables: x, y, z or x1, x2, ..., xn (not both); "
        f"functions: {', '.join(sorted(FUNCTIONS))}; constants: {', '.join(CONSTANTS)}"
    )


# ----------------------------------------------------------------------------- IR


@dataclass(eq=False)
class _Node:
    """One node of the compiled formula.

    kinds: ``num`` (literal), ``const`` (pi, e), ``var``, ``neg``, ``pos``, ``sum`` (terms with
    signs ``+``/``-``), ``prod`` (factors with ``*``/``/``), ``pow``, ``call``. ``value`` is the
    float value when the node has no variable (folded once at compile time).
    """

    kind: str
    pos: int
    children: tuple[_Node, ...] = ()
    ops: tuple[str, ...] = ()
    name: str = ""
    number: float = 0.0
    index: int = -1
    value: float | None = None
    depth: int = 1


_PREC = {"sum": 1, "prod": 2, "neg": 3, "pos": 3, "pow": 4}


def _prec(node: _Node) -> int:
    return _PREC.get(node.kind, 5)


def _format_number(v: float) -> str:
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _to_text(node: _Node) -> str:
    """Normalised text with the fewest parentheses that keep the tree (re-parses to itself)."""

    def wrap(child: _Node, ok: bool) -> str:
        s = _to_text(child)
        return s if ok else f"({s})"

    k = node.kind
    if k == "num":
        return _format_number(node.number)
    if k in ("const", "var"):
        return node.name
    if k in ("neg", "pos"):
        (c,) = node.children
        return ("-" if k == "neg" else "+") + wrap(c, _prec(c) >= 3)
    if k == "pow":
        base, ex = node.children
        return wrap(base, _prec(base) > 4) + "**" + wrap(ex, _prec(ex) >= 3)
    if k == "sum":
        out = [wrap(node.children[0], _prec(node.children[0]) >= 1)]
        for op, c in zip(node.ops[1:], node.children[1:], strict=True):
            out.append(f" {op} " + wrap(c, _prec(c) > 1))
        return "".join(out)
    if k == "prod":
        out = [wrap(node.children[0], _prec(node.children[0]) >= 2)]
        for op, c in zip(node.ops[1:], node.children[1:], strict=True):
            out.append(op + wrap(c, _prec(c) > 2))
        return "".join(out)
    assert k == "call"
    return f"{node.name}({', '.join(_to_text(c) for c in node.children)})"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- source mapping


class _Source:
    """The text handed to ``ast.parse`` and the way back to positions in the original string.

    ASCII whitespace becomes a plain space (one character for one, so multi-line formulas need no
    parentheses), leading whitespace is cut (the parser would call it an indent) and ``^`` becomes
    ``**``. ``ast`` reports UTF-8 byte columns; ``from_byte`` maps them back to characters.
    """

    def __init__(self, original: str) -> None:
        self.original = original
        flat = original.translate(_WHITESPACE)
        self.lead = len(flat) - len(flat.lstrip(" "))
        body = flat[self.lead :]
        self.text = body.replace("^", "**")
        to_orig: list[int] = []
        for i, ch in enumerate(body):
            to_orig.append(self.lead + i)
            if ch == "^":
                to_orig.append(self.lead + i)
        self._to_orig = to_orig
        self._byte_to_char: list[int] | None = None
        if not self.text.isascii():
            b2c: list[int] = []
            for i, ch in enumerate(self.text):
                b2c.extend([i] * len(ch.encode("utf-8", "surrogatepass")))
            b2c.append(len(self.text))
            self._byte_to_char = b2c

    def from_char(self, i: int) -> int:
        """Original position of character ``i`` of the parsed text (clamped to the string)."""
        if i < 0:
            return self.lead
        if i >= len(self._to_orig):
            return len(self.original.rstrip()) if self.original.strip() else 0
        return self._to_orig[i]

    def _char(self, col: int) -> int:
        """Character index in the parsed text of UTF-8 byte column ``col``."""
        if self._byte_to_char is None:
            return col
        return self._byte_to_char[min(max(col, 0), len(self._byte_to_char) - 1)]

    def from_byte(self, col: int) -> int:
        return self.from_char(self._char(col))

    def of(self, node: ast.AST) -> int:
        return self.from_byte(getattr(node, "col_offset", 0))

    def operator_after(self, left: ast.AST) -> int:
        """Position of the operator that follows ``left`` (skipping spaces and ``)``)."""
        end = getattr(left, "end_col_offset", None)
        if end is None:
            return self.of(left)
        s = self.original
        j = self.from_char(self._char(end))
        while j < len(s) and (s[j].isspace() or s[j] == ")"):
            j += 1
        return min(j, max(len(s) - 1, 0))


# ----------------------------------------------------------------------------- parser

_CONSTRUCT_NAMES: dict[type, str] = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "subscripts (a[i])",
    ast.Slice: "slices (a:b)",
    ast.Lambda: "lambda expressions",
    ast.Compare: "comparisons (<, >, ==, ...)",
    ast.BoolOp: "boolean operators (and, or)",
    ast.IfExp: "conditional expressions (a if c else b)",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions / comprehensions",
    ast.List: "lists ([...])",
    ast.Tuple: "tuples (a, b)",
    ast.Set: "sets ({...})",
    ast.Dict: "dicts ({...})",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Starred: "starred expressions (*a)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_REFUSED_BINOPS: dict[type, str] = {
    ast.Mod: "'%' (modulo)",
    ast.FloorDiv: "'//' (floor division)",
    ast.MatMult: "'@' (matrix product)",
    ast.BitAnd: "'&' (bitwise and)",
    ast.BitOr: "'|' (bitwise or)",
    ast.BitXor: "bitwise xor",
    ast.LShift: "'<<' (shift)",
    ast.RShift: "'>>' (shift)",
}

_TORCH_BINARY: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "+": torch.add,
    "-": torch.sub,
    "*": torch.mul,
    "/": torch.div,
    "**": torch.pow,
}


def _constant_kind(value: object) -> str:
    if isinstance(value, bool):
        return "booleans (True/False)"
    if isinstance(value, complex):
        return "complex numbers"
    if isinstance(value, str):
        return "strings"
    if isinstance(value, bytes):
        return "bytes literals"
    if value is None:
        return "None"
    if value is Ellipsis:
        return "'...'"
    return type(value).__name__


class _Builder:
    """Checks an ``ast`` tree against the whitelist and builds the IR, without recursion."""

    def __init__(self, src: _Source) -> None:
        self.src = src
        self.style: str | None = None
        self.style_pos = 0
        self.n_vars = 0

    def error(self, message: str, position: int) -> FormulaError:
        return FormulaError(message, position=position, formula=self.src.original)

    # -- leaves and pre-order checks ------------------------------------------------
    def check(self, node: ast.AST) -> None:
        """Refuse a node on first sight (before its children are looked at)."""
        pos = self.src.of(node)
        if isinstance(node, ast.Constant | ast.Name):
            return
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                raise self.error("unsupported syntax: 'not'", pos)
            if isinstance(node.op, ast.Invert):
                raise self.error("unsupported syntax: '~' (bitwise not)", pos)
            return
        if isinstance(node, ast.BinOp):
            if type(node.op) in _REFUSED_BINOPS:
                what = _REFUSED_BINOPS[type(node.op)]
                raise self.error(
                    f"{what} is not supported; operators are + - * / ** (or ^ for powers)",
                    self.src.operator_after(node.left),
                )
            return
        if isinstance(node, ast.Call):
            self.check_call(node)
            return
        what = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        if isinstance(node, ast.Compare):
            pos = self.src.operator_after(node.left)
        raise self.error(f"unsupported syntax: {what}", pos)

    def check_call(self, node: ast.Call) -> None:
        pos = self.src.of(node)
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.error("unsupported syntax: attribute access (a.b)", pos)
            raise self.error("only named functions can be called, e.g. sin(x)", pos)
        name = node.func.id
        if name not in FUNCTIONS:
            if name in CONSTANTS or self.variable_index(name) is not None:
                raise self.error(f"{name!r} is not a function; write {name}*(...) to multiply", pos)
            raise self.error(
                f"unknown function {name!r}{self.suggest(name, FUNCTIONS)}; "
                f"allowed functions: {', '.join(sorted(FUNCTIONS))}",
                pos,
            )
        if node.keywords:
            kw = node.keywords[0]
            raise self.error(
                f"keyword arguments are not supported: {name}() takes positional arguments",
                self.src.of(kw),
            )
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.error("unsupported syntax: starred arguments (*a)", self.src.of(a))
        arity = FUNCTIONS[name].arity
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise self.error(
                f"{name}() takes {arity} {plural}, got {len(node.args)}",
                pos,
            )

    @staticmethod
    def suggest(name: str, options: Any) -> str:
        close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.75)
        return f" (did you mean {close[0]!r}?)" if close else ""

    @staticmethod
    def variable_index(name: str) -> int | None:
        if name in _XYZ:
            return _XYZ.index(name)
        m = _INDEXED.fullmatch(name)
        if m and m.group(1)[0] != "0":
            return int(m.group(1)) - 1 if len(m.group(1)) <= 6 else MAX_VARIABLE_INDEX
        return None

    def leaf(self, node: ast.AST) -> _Node:
        pos = self.src.of(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise self.error(f"unsupported value: {_constant_kind(v)}", pos)
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f):
                raise self.error("number is too large for float64", pos)
            return _Node("num", pos, number=f, value=f)
        assert isinstance(node, ast.Name)
        name = node.id
        if name in CONSTANTS:
            return _Node("const", pos, name=name, value=CONSTANTS[name])
        if name in FUNCTIONS:
            raise self.error(f"{name!r} is a function; call it like {name}(...)", pos)
        m = _INDEXED.fullmatch(name)
        if m and m.group(1)[0] == "0":
            raise self.error(
                f"unknown variable {name!r}: numbered variables are x1, x2, ... "
                "(from 1, without leading zeros)",
                pos,
            )
        idx = self.variable_index(name)
        if idx is None:
            options = [*_XYZ, *FUNCTIONS, *CONSTANTS]
            raise self.error(
                f"unknown name {name!r}{self.suggest(name, options)}; allowed {_allowed_names()}",
                pos,
            )
        if idx + 1 > MAX_VARIABLE_INDEX:
            raise self.error(f"variable {name!r} is beyond x{MAX_VARIABLE_INDEX}", pos)
        style = "xyz" if name in _XYZ else "indexed"
        if self.style is None:
            self.style, self.style_pos = style, pos
        elif style != self.style:
            raise self.error(
                f"{name!r} mixes the two variable styles: use x, y, z or x1..xn, not both "
                f"(the first variable is at position {self.style_pos})",
                pos,
            )
        self.n_vars = max(self.n_vars, idx + 1)
        return _Node("var", pos, name=name, index=idx)

    # -- post-order construction ---------------------------------------------------
    def combine(self, node: ast.AST, kids: list[_Node]) -> _Node:
        pos = self.src.of(node)
        if isinstance(node, ast.UnaryOp):
            kind = "neg" if isinstance(node.op, ast.USub) else "pos"
            out = _Node(kind, pos, children=(kids[0],), depth=kids[0].depth + 1)
        elif isinstance(node, ast.BinOp):
            op = _BINOPS[type(node.op)]
            left, right = kids
            group = "sum" if op in "+-" else "prod" if op in "*/" else "pow"
            if group == "pow":
                out = _Node(
                    "pow", pos, children=(left, right), depth=max(left.depth, right.depth) + 1
                )
            elif left.kind == group and left.value is None:
                # Flatten the left chain: (a + b) - c == a + b - c, evaluated left to right.
                out = _Node(
                    group,
                    left.pos,
                    children=(*left.children, right),
                    ops=(*left.ops, op),
                    depth=max(left.depth, right.depth + 1),
                )
            else:
                out = _Node(
                    group,
                    pos,
                    children=(left, right),
                    ops=("+" if group == "sum" else "*", op),
                    depth=max(left.depth, right.depth) + 1,
                )
        else:
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            name = node.func.id
            out = _Node(
                "call",
                pos,
                children=tuple(kids),
                name=name,
                depth=max((k.depth for k in kids), default=0) + 1,
            )
        if out.depth > MAX_DEPTH:
            raise self.error(f"formula nests more than {MAX_DEPTH} levels deep", out.pos)
        if all(k.value is not None for k in out.children):
            out.value = self.fold(out)
        return out

    def fold(self, node: _Node) -> float:
        """Value of a node whose children are all constant, with the runtime's torch ops."""
        vals = [torch.tensor(k.value, dtype=torch.float64) for k in node.children]
        with torch.no_grad():
            if node.kind == "neg":
                r = -vals[0]
            elif node.kind == "pos":
                r = vals[0]
            elif node.kind == "pow":
                r = torch.pow(vals[0], vals[1])
            elif node.kind in ("sum", "prod"):
                r = vals[0]
                for op, v in zip(node.ops[1:], vals[1:], strict=True):
                    r = _TORCH_BINARY[op](r, v)
            else:
                r = FUNCTIONS[node.name].impl(*vals)
        v = float(r)
        if not math.isfinite(v):
            raise self.error(
                f"constant {_short(_to_text(node))} evaluates to {v} "
                "(overflow, division by zero or outside the function's domain)",
                node.pos,
            )
        return v

    def build(self, root: ast.AST) -> _Node:
        # Iterative post-order walk: the tree of a long sum is thousands of levels deep.
        stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
        done: list[_Node] = []
        while stack:
            node, kids = stack.pop()
            if kids is None:
                self.check(node)
                if isinstance(node, ast.Constant | ast.Name):
                    done.append(self.leaf(node))
                    continue
                if isinstance(node, ast.UnaryOp):
                    children: list[ast.AST] = [node.operand]
                elif isinstance(node, ast.BinOp):
                    children = [node.left, node.right]
                else:
                    assert isinstance(node, ast.Call)
                    children = list(node.args)
                stack.append((node, children))
                for c in reversed(children):
                    stack.append((c, None))
            else:
                n = len(kids)
                built = done[len(done) - n :] if n else []
                del done[len(done) - n :]
                done.append(self.combine(node, built))
        assert len(done) == 1
        return done[0]


# ----------------------------------------------------------------------------- compile


def _compile(node: _Node) -> Callable[[Tensor], Value]:
    """Closure tree evaluating ``node`` on a ``(B, d)`` tensor."""
    if node.value is not None:
        c = node.value
        return lambda P: c
    k = node.kind
    if k == "var":
        i = node.index
        return lambda P: P[:, i]
    if k == "pos":
        return _compile(node.children[0])
    if k == "neg":
        f = _compile(node.children[0])
        return lambda P: -f(P)
    if k == "pow":
        fa, fb = (_compile(c) for c in node.children)
        return lambda P: torch.pow(fa(P), fb(P))  # type: ignore[arg-type]
    if k in ("sum", "prod"):
        first = _compile(node.children[0])
        rest = [(op, _compile(c)) for op, c in zip(node.ops[1:], node.children[1:], strict=True)]
        if k == "sum":

            def run_sum(P: Tensor) -> Value:
                acc = first(P)
                for op, f in rest:
                    acc = acc + f(P) if op == "+" else acc - f(P)
                return acc

            return run_sum

        def run_prod(P: Tensor) -> Value:
            acc = first(P)
            for op, f in rest:
                acc = acc * f(P) if op == "*" else acc / f(P)
            return acc

        return run_prod
    assert k == "call"
    impl = FUNCTIONS[node.name].impl
    args = [_compile(c) for c in node.children]
    if len(args) == 1:
        (fa,) = args
        return lambda P: impl(fa(P))
    return lambda P: impl(*(f(P) for f in args))


class CompiledFormula:
    """A parsed formula as a batched function ``(B, d) -> (B,)``.

    ``d`` may exceed :attr:`n_vars`; extra columns are ignored. The result is always a fresh
    ``(B,)`` tensor connected to the autograd graph of the input (a constant formula has
    gradient zero).

    Attributes:
        text: the normalised formula (``^`` written ``**``, minimal parentheses).
        n_vars: the dimension the formula needs.
        variables: the variable names, one per dimension (``("x", "y")`` or ``("x1", ...)``).
    """

    def __init__(self, root: _Node, n_vars: int, style: str | None) -> None:
        self._root = root
        self._run = _compile(root)
        self.n_vars = n_vars
        self.text = _to_text(root)
        if style == "indexed":
            self.variables: tuple[str, ...] = tuple(f"x{i + 1}" for i in range(n_vars))
        else:
            self.variables = _XYZ[:n_vars]

    def __call__(self, P: Tensor) -> Tensor:
        if not isinstance(P, Tensor) or P.ndim != 2 or P.shape[1] < max(self.n_vars, 1):
            shape = tuple(P.shape) if isinstance(P, Tensor) else type(P).__name__
            raise DimensionError(
                f"formula {_short(self.text)!r} needs points of shape (B, d) with "
                f"d >= {max(self.n_vars, 1)}, got {shape}"
            )
        out = self._run(P)
        if not isinstance(out, Tensor):  # constant formula: keep it on the autograd graph
            return P[:, :0].sum(-1) + out
        if out._is_view() or out is P:  # a bare variable: do not alias the caller's tensor
            out = out.clone()
        return out

    def __repr__(self) -> str:
        return f"CompiledFormula({self.text!r}, n_vars={self.n_vars})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Closures do not pickle; the normalised text re-parses to the same tree.
        return _compiled_from_text, (self.text,)


def _compiled_from_text(text: str) -> CompiledFormula:
    return parse_formula(text).fn


class ParsedFormula(NamedTuple):
    """What :func:`parse_formula` returns: ``fn, n_vars, text = parse_formula(...)``."""

    fn: CompiledFormula
    n_vars: int
    text: str


def _syntax_error(src: _Source, err: SyntaxError) -> FormulaError:
    msg = str(err.msg)
    m = re.search(r"\d{4300,}", src.original)
    if "limit" in msg and m:  # an integer literal longer than int() accepts
        return FormulaError("number is too large for float64", m.start(), src.original)
    if not err.offset or err.offset < 1:  # CPython reports 0 for an unexpected end
        pos = src.from_char(len(src.text))
    else:
        pos = src.from_char(err.offset - 1)
    return FormulaError(f"syntax error: {msg}", pos, src.original)


def parse_formula(expression: str) -> ParsedFormula:
    """Parse ``expression`` against the whitelist and compile it to a batched torch function.

    Args:
        expression: the formula, e.g. ``"x**4 - 2*x**2 + y**2"`` (grammar in the module doc).

    Returns:
        ``(fn, n_vars, text)``: ``fn`` maps ``(B, d)`` points (``d >= n_vars``) to ``(B,)``
        values with torch ops (autograd works through it); ``n_vars`` is the dimension the formula
        uses (``x, y, z`` count by letter, ``x1..xn`` by highest index; 0 for a constant);
        ``text`` is the normalised formula.

    Raises:
        FormulaError: malformed, refused or oversized input; ``.position`` is the 0-based index
            of the problem in ``expression``.

    Example:
        >>> import torch
        >>> fn, n, text = parse_formula("max(x1, 0) + 3e-1*x2")
        >>> n, text
        (2, 'max(x1, 0) + 0.3*x2')
        >>> fn(torch.tensor([[-1.0, 10.0]], dtype=torch.float64)).tolist()
        [3.0]
    """
    if not isinstance(expression, str):
        raise FormulaError(
            f"a formula must be a string, got {type(expression).__name__}", position=0
        )
    if len(expression) > MAX_LENGTH:
        raise FormulaError(
            f"formula is {len(expression)} characters long; the limit is {MAX_LENGTH}",
            position=MAX_LENGTH,
        )
    if not expression.strip():
        raise FormulaError("empty formula", position=0, formula=expression)
    # Refused before parsing: what the parser would reject less clearly, or would answer with a
    # warning (escape sequences, "2x"); warnings filters are process-global, so we never touch them.
    for bad, why in (("\x00", "NUL characters"), ("#", "comments (#)"), ("\\", "backslashes")):
        i = expression.find(bad)
        if i >= 0:
            raise FormulaError(
                f"{why} are not allowed in a formula", position=i, formula=expression
            )
    m = _SURROGATE.search(expression)
    if m:
        raise FormulaError(
            "invalid character (a lone UTF-16 surrogate)", position=m.start(), formula=expression
        )
    m = _NUMBER_THEN_NAME.search(expression)
    if m:
        hint = "" if keyword.iskeyword(m.group(2)) else f" (write {m.group(1)}*{m.group(2)})"
        raise FormulaError(
            f"syntax error: a number cannot be followed directly by a name{hint}",
            position=m.start(2),
            formula=expression,
        )
    n_ops = 0
    prev = ""
    for i, ch in enumerate(expression):
        if ch in _OPERATOR_CHARS and not (ch == "*" and prev == "*"):
            n_ops += 1
            if n_ops > MAX_OPERATORS:
                raise FormulaError(
                    f"formula has more than {MAX_OPERATORS} operators", i, expression
                )
        prev = ch
    src = _Source(expression)
    try:
        tree = ast.parse(src.text, mode="eval")
    except SyntaxError as err:
        raise _syntax_error(src, err) from None
    except (RecursionError, MemoryError):
        raise FormulaError("formula is nested too deeply to parse", 0, expression) from None
    except ValueError as err:  # e.g. characters the tokenizer cannot take
        raise FormulaError(f"syntax error: {err}", 0, expression) from None
    n_nodes = 0
    for node in ast.walk(tree.body):
        n_nodes += isinstance(node, ast.expr)
        if n_nodes > MAX_NODES:
            raise FormulaError(f"formula has more than {MAX_NODES} syntax nodes", 0, expression)
    builder = _Builder(src)
    root = builder.build(tree.body)
    fn = CompiledFormula(root, builder.n_vars, builder.style)
    return ParsedFormula(fn, builder.n_vars, fn.text)


def formula_landscape(
    expression: str, domain: Any = None, *, dim: int | None = None, name: str = "formula"
) -> Landscape:
    """A :class:`Landscape` from a formula string (see :func:`parse_formula` for the grammar).

    Args:
        expression: the formula, e.g. ``"x**4 - 2*x**2 + y**2"``.
        domain: plotting/sampling box: one ``(lo, hi)`` for every dimension, a flat
            ``xmin, xmax, ymin, ymax, ...`` sequence or one pair per dimension. Default:
            ``DEFAULT_DOMAIN`` in every dimension.
        dim: the dimension; at least the one the formula uses, larger to add variables the
            formula ignores. Default: the formula's own (1 for a constant formula).
        name: the landscape's name.

    Returns:
        A float64 landscape with ``formula`` set to the normalised text and no known critical
        points (use ``descentlab.analysis`` to find them).

    Example:
        >>> L = formula_landscape("x**4 - 2*x**2 + y**2", domain=(-2, 2, -2, 2))
        >>> float(L.value([1.0, 0.0])), L.dim, L.formula
        (-1.0, 2, 'x**4 - 2*x**2 + y**2')
    """
    fn, n_vars, text = parse_formula(expression)
    need = max(n_vars, 1)
    if dim is None:
        d = need
    else:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise InvalidParameterError(f"dim must be a positive integer, got {dim!r}")
        dim = int(dim)
        if dim < need:
            raise FormulaError(
                f"the formula uses {fn.variables[-1]} (dimension {need}) but dim={dim}",
                position=_last_variable_position(fn, need),
                formula=expression,
            )
        d = dim
    if domain is None:
        domain = (DEFAULT_DOMAIN,) * d
    return Landscape(
        fn,
        d,
        name=name,
        domain=domain,
        formula=text,
        params={"formula": text},
        description=f"User formula f = {_short(text, 200)}; critical points not known in advance.",
        any_layout=True,
    )


def _last_variable_position(fn: CompiledFormula, need: int) -> int | None:
    stack = [fn._root]
    while stack:
        node = stack.pop()
        if node.kind == "var" and node.index == need - 1:
            return node.pos
        stack.extend(node.children)
    return None
