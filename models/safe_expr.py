"""A safe evaluator for user-typed functions f(z): arithmetic on one numpy array ``z``, nothing else.

The text is parsed with Python's ``ast`` and the tree is walked by hand: numbers, the name ``z``,
the operators + - * / ** and unary minus / plus, comparisons are not needed (``heaviside`` and
``where`` cover steps), and calls to a fixed whitelist of numpy functions. Every other node
(attribute access, subscripts, other names, imports, lambdas, comprehensions, keyword arguments,
strings) is refused with a message that says what was found. Nothing is passed to eval or exec,
so a typed string can never reach Python's builtins.

    f = compile_expression("sin(3*z) + 0.5*z**2")
    f(np.linspace(-1, 1, 5))      # -> array of 5 values
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import numpy as np

MAX_LENGTH = 300  # characters of the expression
MAX_NODES = 200  # nodes of the parse tree
MAX_EXPONENT = 100.0  # |constant exponent|: z**1e9 would overflow to inf for every z
MAX_CONSTANT = 1e12


class ExpressionError(ValueError):
    """The expression is not allowed or not valid; the message says why in plain words."""


FUNCTIONS: dict[str, Callable] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "abs": np.abs,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "sign": np.sign,
    "floor": np.floor,
    "ceil": np.ceil,
    "arctan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "heaviside": np.heaviside,
    "where": np.where,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "relu": lambda x: np.maximum(x, 0.0),
}
ARITY = {"heaviside": 2, "maximum": 2, "minimum": 2, "where": 3}
CONSTANTS = {"pi": np.pi, "e": np.e}

_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access ('.')",
        ast.Subscript: "indexing ('[...]')",
        ast.Lambda: "lambda",
        ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.Compare: "a comparison (use heaviside(z - a, 0.5) or where(...))",
        ast.BoolOp: "and/or",
        ast.IfExp: "if/else (use where(cond, a, b))",
        ast.NamedExpr: "':='",
        ast.Starred: "'*' unpacking",
        ast.JoinedStr: "an f-string",
    }
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return type(node).__name__


class _Checker:
    """Walks the tree once and refuses anything outside the grammar above."""

    def check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            return self.check(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExpressionError(f"only numbers are allowed, found {_describe(node)}")
            if abs(node.value) > MAX_CONSTANT:
                raise ExpressionError(f"the number {node.value} is too large (limit {MAX_CONSTANT:g})")
            return
        if isinstance(node, ast.Name):
            if node.id != "z" and node.id not in CONSTANTS:
                hint = " (functions must be called: e.g. sin(z))" if node.id in FUNCTIONS else ""
                raise ExpressionError(f"unknown name {node.id!r}: the only variable is z{hint}")
            return
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(f"operator {type(node.op).__name__} is not allowed; use + - * / **")
            if isinstance(node.op, ast.Pow):
                self._check_exponent(node.right)
            self.check(node.left)
            return self.check(node.right)
        if isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
            return self.check(node.operand)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise ExpressionError(
                    f"only whitelisted functions may be called, found {_describe(node.func)}"
                )
            name = node.func.id
            if name not in FUNCTIONS:
                raise ExpressionError(
                    f"function {name!r} is not allowed; allowed: {', '.join(sorted(FUNCTIONS))}"
                )
            if node.keywords:
                raise ExpressionError(f"{name}(): keyword arguments are not allowed")
            want = ARITY.get(name, 1)
            if len(node.args) != want:
                raise ExpressionError(
                    f"{name}() takes {want} argument{'s' if want > 1 else ''}, got {len(node.args)}"
                )
            for arg in node.args:
                self.check(arg)
            return
        raise ExpressionError(f"not allowed in an expression: {_describe(node)}")

    def _check_exponent(self, node: ast.AST) -> None:
        """A constant exponent must be modest (z**1e6 is inf); a variable one is bounded at run time."""
        value = _constant_value(node)
        if value is not None and abs(value) > MAX_EXPONENT:
            raise ExpressionError(f"the exponent {value:g} is too large (limit {MAX_EXPONENT:g})")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            raise ExpressionError("nested powers (a**b**c) are not allowed")


def _constant_value(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant_value(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    return None


def _evaluate(node: ast.AST, z: np.ndarray):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, z)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return z if node.id == "z" else CONSTANTS[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, z), _evaluate(node.right, z)
        if isinstance(node.op, ast.Pow):
            right = np.clip(right, -MAX_EXPONENT, MAX_EXPONENT)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, z))
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*[_evaluate(a, z) for a in node.args])
    raise ExpressionError(f"not allowed in an expression: {_describe(node)}")  # unreachable after check


def parse_expression(text: str) -> ast.Expression:
    """Parse and check ``text``; raises ExpressionError with a readable message."""
    text = text.strip()
    if not text:
        raise ExpressionError("the expression is empty: type a function of z, e.g. z**2")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is too long ({len(text)} characters, limit {MAX_LENGTH})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a valid expression: {e.msg} (at column {e.offset})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"the expression is too complex (more than {MAX_NODES} parts)")
    _Checker().check(tree)
    return tree


def compile_expression(text: str) -> Callable[[np.ndarray], np.ndarray]:
    """f(z) for a checked expression: maps a float array to a float array of the same shape."""
    tree = parse_expression(text)

    def f(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(all="ignore"):  # log(-1) -> nan is the user's business; the caller checks
            out = _evaluate(tree, z)
        return np.broadcast_to(np.asarray(out, dtype=np.float64), z.shape).copy()

    f.expression = text.strip()  # type: ignore[attr-defined]
    return f
