"""Fake parms (part of the fake ``hou``): ``Parm``, ``ParmTuple``, values checked like HOM's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional, Sequence

import hou
from hou_types import F, I, M, S, T, ParmTemplate

if TYPE_CHECKING:
    from hou_nodes import Node



def _check_value(template: ParmTemplate, value: Any) -> Any:
    kind = template.type()
    if kind in (F,) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (I, T) and isinstance(value, (int, bool)) or (kind is I and isinstance(value, float)):
        return int(value)
    if kind is M:
        if isinstance(value, str) and value in template.menuItems():
            return template.menuItems().index(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(template.menuItems()):
            return value
        raise hou.InvalidInput(f"Invalid menu value {value!r}")
    if kind is S and isinstance(value, str):
        return value
    raise TypeError(f"Invalid type for parameter {template.name()}: {type(value).__name__}")


class Parm:
    def __init__(self, node: "Node", template: ParmTemplate, name: str, index: int) -> None:
        self._node, self._template, self._name, self._index = node, template, name, index
        self._value = template._default
        self._expression: Optional[str] = None

    def _check(self) -> None:
        self._node._check("parm")

    def name(self) -> str:
        self._check()
        return self._name

    def path(self) -> str:
        return f"{self._node.path()}/{self._name}"

    def node(self) -> "Node":
        return self._node

    def parmTemplate(self) -> ParmTemplate:
        return self._template

    def tuple(self) -> "ParmTuple":
        return ParmTuple(self._node, self._template)

    def eval(self) -> Any:
        self._check()
        if self._expression is not None:
            return _eval_expression(self._expression, self._template)
        return self._value

    def evalAsString(self) -> str:
        value = self.eval()
        if self._template.type() is M:
            return self._template.menuItems()[int(value)]
        return str(value)

    def unexpandedString(self) -> str:
        self._check()
        if self._template.type() is not S:
            raise hou.OperationFailed("Parameter is not a string")
        return str(self._value)

    def rawValue(self) -> str:
        return self._expression if self._expression is not None else str(self._value)

    def set(self, value: Any, language: Any = None, follow_parm_reference: bool = True) -> None:
        self._check()
        new = _check_value(self._template, value)
        old = self._value
        self._value = new
        hou._record_undo("Parameter change", lambda: setattr(self, "_value", old))

    def setExpression(self, expression: str, language: Any = None, replace_expression: bool = True) -> None:
        self._check()
        old = self._expression
        self._expression = expression
        hou._record_undo("Parameter change", lambda: setattr(self, "_expression", old))

    def expression(self) -> str:
        self._check()
        if self._expression is None:
            raise hou.OperationFailed("The parameter has no expression")
        return self._expression

    def keyframes(self) -> tuple:
        return (self._expression,) if self._expression is not None else ()

    def deleteAllKeyframes(self) -> None:
        self._check()
        old = self._expression
        if old is None:
            return
        self._expression = None
        hou._record_undo("Delete keyframes", lambda: setattr(self, "_expression", old))

    def isAtDefault(self, compare_temporary_defaults: bool = True, compare_expressions: bool = True) -> bool:
        return self._expression is None and self._value == self._template._default


def _eval_expression(expr: str, template: ParmTemplate) -> Any:
    """Tiny hscript subset: numbers, ``$F``/``$FF``, and ``a OP b`` of those."""
    text = expr.replace("$FF", str(hou._frame)).replace("$F", str(int(hou._frame))).strip()
    match = re.fullmatch(r"(-?[\d.]+)\s*([-+*/])\s*(-?[\d.]+)", text)
    try:
        if match:
            a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]
        else:
            value = float(text)
    except ValueError:
        value = 0.0  # Houdini reports a bad expression as an error on the node and evaluates 0
    return value if template.type() is F else (int(value) if template.type() in (I, T, M) else str(value))


class ParmTuple:
    def __init__(self, node: "Node", template: ParmTemplate) -> None:
        self._node, self._template = node, template

    def _parms(self) -> list[Parm]:
        return [p for p in self._node._parms if p._template is self._template]

    def name(self) -> str:
        return self._template.name()

    def parmTemplate(self) -> ParmTemplate:
        return self._template

    def __len__(self) -> int:
        return self._template.numComponents()

    def __getitem__(self, index: int) -> Parm:
        return self._parms()[index]

    def eval(self) -> tuple:
        self._node._check("parmTuple")
        return tuple(p.eval() for p in self._parms())

    def set(self, value: Sequence[Any], language: Any = None, follow_parm_reference: bool = True) -> None:
        self._node._check("parmTuple")
        parms = self._parms()
        if isinstance(value, (str, bytes)) or len(value) != len(parms):
            raise hou.InvalidSize(f"expected {len(parms)} values")
        checked = [_check_value(self._template, v) for v in value]  # all or nothing
        for parm, v in zip(parms, checked):
            parm.set(v)


_SUFFIXES = ("x", "y", "z", "w")
