"""A small, safe expression language for policy conditions on tool arguments.

`amount >= 100`, `len(recipients) > 5`, `"prod" in database and not dry_run`. Expressions are
parsed with Python's `ast` into a tree that only holds whitelisted nodes, and evaluated by
walking that tree: no `eval`, no attribute access, no calls but a few pure functions, and
arithmetic only on numbers (so `"x" * 10**9` cannot exhaust memory).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 500
MAX_NODES = 200

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Subscript,
    *_COMPARE,
    *_ARITHMETIC,
)


class ExpressionError(ValueError):
    """An expression that is not allowed, or that cannot be evaluated on these arguments."""


class MissingArgument(ExpressionError):
    """The expression names an argument the call does not have (the condition is about other calls)."""


class Expression:
    """A parsed, checked condition; `evaluate(args)` answers it for one tool call's arguments."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._tree = _parse(source)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, args: Mapping[str, Any]) -> bool:
        """True when the condition holds for `args`; `ExpressionError` when it cannot be answered."""
        try:
            return bool(_eval(self._tree.body, args))
        except ExpressionError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as error:
            raise ExpressionError(f"{self.source!r} cannot be evaluated: {error}") from None


def _parse(source: str) -> ast.Expression:
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"not a valid expression: {error.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"more than {MAX_NODES} parts")
    for node in nodes:
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(
                f"{type(node).__name__} is not allowed (only comparisons, and/or/not, arithmetic, "
                f"literals, argument names and {', '.join(_FUNCTIONS)})"
            )
        if isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords
        ):
            raise ExpressionError(f"only these functions may be called: {', '.join(_FUNCTIONS)}")
    return tree


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"arithmetic needs numbers, got {value!r}")
    return value


def _eval(node: ast.AST, args: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        # Constants first: an argument named `true` must not turn `dry_run == true` into a comparison with it.
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in args:
            return args[node.id]
        raise MissingArgument(f"the call has no argument {node.id!r}")
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(value, args) for value in node.values)
        return any(_eval(value, args) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, args)
        if isinstance(node.op, ast.Not):
            return not operand
        return -_number(operand) if isinstance(node.op, ast.USub) else +_number(operand)
    if isinstance(node, ast.BinOp):
        return _ARITHMETIC[type(node.op)](_number(_eval(node.left, args)), _number(_eval(node.right, args)))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, args)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, args)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(_eval(arg, args) for arg in node.args))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(element, args) for element in node.elts]
    if isinstance(node, ast.Subscript):
        return _eval(node.value, args)[_eval(node.slice, args)]
    raise ExpressionError(f"{type(node).__name__} is not allowed")
