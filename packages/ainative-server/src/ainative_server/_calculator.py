"""A safe arithmetic evaluator for the ``calculate`` tool: an ``ast`` walk over a whitelist.

Only numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses and a few named ``math``
functions and constants are allowed. Names, attributes, subscripts, lambdas, comprehensions
and any other call are refused. The work of every operation is bounded before it is done,
not only its result: operands are integers of at most `MAX_INT_BITS` bits, a power's result
size is estimated from its operands (``9**9**9`` is refused without computing it), and
``round``'s digits are bounded (``round(1, -10**7)`` would compute ``10**10**7``). Bit
shifts and factorials are not offered. Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Final

from ainative_core import ToolArgumentsError

__all__ = ["evaluate"]

Number = int | float

MAX_EXPRESSION_CHARS: Final = 1000
MAX_EXPONENT: Final = 10_000
MAX_INT_BITS: Final = 4096
MAX_DEPTH: Final = 50
MAX_ROUND_DIGITS: Final = 1_300
"""Most digits ``round`` may keep or drop: past ``MAX_INT_BITS`` bits' 1,234 digits, any
rounding of an allowed number is the number itself or 0."""

_BINARY: Final[dict[type[ast.operator], Callable[[Number, Number], Number]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Number], Number]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: Final[dict[str, Callable[..., Number]]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
}
_CONSTANTS: Final[dict[str, float]] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _refuse(message: str) -> ToolArgumentsError:
    return ToolArgumentsError(f"calculate: {message}")


def _check_size(value: Number) -> Number:
    if not isinstance(value, int | float):
        raise _refuse(f"result is not a real number: {value!r}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _refuse(f"result too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise _refuse("result is not a finite number")
    return value


def _check_call(name: str, args: list[Number]) -> None:
    """Refuse a call whose work is unbounded in its arguments, before making it."""
    if name == "round" and len(args) == 2:
        digits = args[1]
        if isinstance(digits, int) and abs(digits) > MAX_ROUND_DIGITS:
            raise _refuse(f"round: ndigits {digits} is out of range (limit {MAX_ROUND_DIGITS})")


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise _refuse("expression nested too deeply")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise _refuse(f"only numbers are allowed, not {node.value!r}")
        return _check_size(node.value)
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise _refuse(f"operator {type(node.op).__name__} is not allowed")
        left = _eval(node.left, depth + 1)
        right = _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise _refuse(f"exponent {right} is too large (limit {MAX_EXPONENT})")
        # Estimate the size before computing: |left| ** right has more than
        # right * (bits(left) - 1) bits.
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and (left.bit_length() - 1) * right > MAX_INT_BITS
        ):
            raise _refuse(f"result too large (more than {MAX_INT_BITS} bits)")
        try:
            return _check_size(op(left, right))
        except ZeroDivisionError:
            raise _refuse("division by zero") from None
        except OverflowError:
            raise _refuse("result too large") from None
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise _refuse(f"operator {type(node.op).__name__} is not allowed")
        return _check_size(unary(_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise _refuse(f"name {node.id!r} is not allowed (constants: {', '.join(_CONSTANTS)})")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise _refuse(
                f"call to {what!r} is not allowed (functions: {', '.join(sorted(_FUNCTIONS))})"
            )
        if node.keywords:
            raise _refuse("keyword arguments are not allowed")
        args = [_eval(arg, depth + 1) for arg in node.args]
        _check_call(node.func.id, args)
        try:
            return _check_size(_FUNCTIONS[node.func.id](*args))
        except (ValueError, TypeError, OverflowError) as exc:
            raise _refuse(f"{node.func.id}: {exc}") from None
    if isinstance(node, ast.Attribute):
        raise _refuse("attribute access is not allowed")
    raise _refuse(f"{type(node).__name__} is not allowed in an arithmetic expression")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; `ToolArgumentsError` says what is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise _refuse(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise _refuse(f"not an arithmetic expression: {exc.msg}") from None
    return _eval(tree, 0)
