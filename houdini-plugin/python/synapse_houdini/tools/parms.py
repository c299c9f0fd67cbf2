"""Checking and applying parm changes: everything is checked before anything is set.

:func:`plan` resolves each name to a parm (``tx``) or a parm tuple (``t``, given a
list), checks the value against the parm template's type, and returns the steps;
:func:`apply` performs them and reports ``[{parm, old, new}]``. A bad name is
``InvalidParm`` (with close names as hints), a bad value ``InvalidParm`` too.
"""

from __future__ import annotations

import difflib
from typing import Any

from .common import InvalidInput, InvalidParm, clip, hou_module

SETTABLE = ("Float", "Int", "Toggle", "Menu", "String")
#: Component name suffixes of multi-component parm templates, by ``hou.parmNamingScheme``.
SUFFIXES = {
    "Base1": [str(i) for i in range(1, 65)],
    "XYZW": ["x", "y", "z", "w"],
    "XYWH": ["x", "y", "w", "h"],
    "UVW": ["u", "v", "w"],
    "RGBA": ["r", "g", "b", "a"],
    "MinMax": ["min", "max"],
    "MaxMin": ["max", "min"],
    "StartEnd": ["start", "end"],
    "BeginEnd": ["begin", "end"],
}


def flat_templates(templates: Any) -> list[Any]:
    """Parm templates with folders opened (recursively): the ones that make parms."""
    out: list[Any] = []
    for template in templates:
        if template.type().name() == "Folder":
            out.extend(flat_templates(template.parmTemplates()))
        elif template.type().name() != "FolderSet":
            out.append(template)
    return out


def precheck(node_type: Any, values: dict) -> None:
    """Check parm names and values against a node TYPE, before a node of it is created.

    A name is a template's name (a tuple, given a list when it has several
    components) or one component's name (template name + naming-scheme suffix).
    """
    by_name: dict[str, tuple[Any, Any]] = {}
    for template in flat_templates(node_type.parmTemplateGroup().parmTemplates()):
        n = template.numComponents()
        by_name[template.name()] = (template, None)
        if n > 1:
            suffixes = SUFFIXES.get(template.namingScheme().name(), SUFFIXES["Base1"])
            for suffix in suffixes[:n]:
                by_name[template.name() + suffix] = (template, suffix)
    for name, value in values.items():
        found = by_name.get(name)
        if found is None:
            close = difflib.get_close_matches(name, sorted(by_name), n=5)
            hint = f"; did you mean {close}?" if close else "; call houdini_node_type_help for its parms"
            raise InvalidParm(f"a {node_type.name()} node has no parm {name!r}{hint}")
        template, component = found
        n = template.numComponents()
        if component is None and n > 1:
            if not isinstance(value, (list, tuple)):
                raise InvalidParm(f"parm {name!r} has {n} components: give a list of {n} values")
            if len(value) != n:
                raise InvalidParm(f"parm {name!r} has {n} components, got {len(value)} values")
            for item in value:
                _check_scalar(name, template, item)
        elif isinstance(value, (list, tuple)):
            raise InvalidParm(f"parm {name!r} takes one value, not a list")
        else:
            _check_scalar(name, template, value)


def _check_scalar(name: str, template: Any, value: Any) -> Any:
    kind = template.type().name()
    ok = {
        "Float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "Int": isinstance(value, int) and not isinstance(value, bool),
        "Toggle": isinstance(value, (bool, int)),
        "String": isinstance(value, str),
    }
    if kind == "Menu":
        items = list(template.menuItems())
        if isinstance(value, str) and value in items:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(items):
            return value
        raise InvalidParm(f"parm {name!r} is a menu: give one of {items[:30]} (or its index)")
    if kind not in SETTABLE:
        raise InvalidParm(f"parm {name!r} is a {kind} parm; it cannot be set with a value")
    if kind == "Int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not ok[kind]:
        wanted = {"Float": "a number", "Int": "an integer", "Toggle": "a bool", "String": "a string"}[kind]
        raise InvalidParm(f"parm {name!r} takes {wanted}, not {type(value).__name__} {clip(repr(value), 80)}")
    return int(value) if kind == "Toggle" else value


def _unknown(node: Any, name: str) -> InvalidParm:
    names = sorted({p.name() for p in node.parms()} | {p.tuple().name() for p in node.parms()})
    close = difflib.get_close_matches(name, names, n=5)
    hint = f"; did you mean {close}?" if close else "; call houdini_node_type_help for its parms"
    return InvalidParm(f"{node.path()} has no parm {name!r}{hint}")


def plan(node: Any, values: dict, expressions: dict) -> list[tuple]:
    """The checked steps ``(kind, name, target, payload)``; raises before any change."""
    both = sorted(set(values) & set(expressions))
    if both:
        raise InvalidInput(f"input.expressions.{both[0]}: the parm is also in parms; give a value or an expression")
    steps: list[tuple] = []
    for name, value in values.items():
        parm = node.parm(name)
        if parm is not None and not isinstance(value, (list, tuple)):
            steps.append(("value", name, parm, _check_scalar(name, parm.parmTemplate(), value)))
            continue
        tuple_ = node.parmTuple(name)
        if tuple_ is None:
            if parm is not None:
                raise InvalidParm(f"parm {name!r} takes one value, not a list")
            raise _unknown(node, name)
        if not isinstance(value, (list, tuple)):
            if len(tuple_) == 1:
                steps.append(("value", name, tuple_[0], _check_scalar(name, tuple_.parmTemplate(), value)))
                continue
            raise InvalidParm(f"parm {name!r} has {len(tuple_)} components: give a list of {len(tuple_)} values "
                              f"(or set one component, e.g. {tuple_[0].name()!r})")
        if len(value) != len(tuple_):
            raise InvalidParm(f"parm {name!r} has {len(tuple_)} components, got {len(value)} values")
        checked = [_check_scalar(name, tuple_.parmTemplate(), v) for v in value]
        steps.append(("tuple", name, tuple_, checked))
    for name, expr in expressions.items():
        parm = node.parm(name)
        if parm is None:
            if node.parmTuple(name) is not None:
                raise InvalidParm(f"{name!r} is a parm tuple: set an expression on one component (e.g. {name}x)")
            raise _unknown(node, name)
        if parm.parmTemplate().type().name() not in SETTABLE:
            raise InvalidParm(f"parm {name!r} cannot take an expression")
        steps.append(("expression", name, parm, expr))
    return steps


def _current(target: Any) -> Any:
    value = target.eval()
    if isinstance(value, tuple):
        return [clip(v) if isinstance(v, str) else v for v in value]
    return clip(value) if isinstance(value, str) else value


def _has_expression(parm: Any) -> bool:
    try:
        parm.expression()
    except Exception:  # noqa: BLE001 - hou.OperationFailed: no expression
        return False
    return True


def apply(steps: list[tuple]) -> list[dict[str, Any]]:
    """Perform checked steps; ``[{parm, old, new, expression?}]``."""
    hou = hou_module()
    changed = []
    for kind, name, target, payload in steps:
        old = _current(target)
        if kind == "expression":
            target.setExpression(payload, hou.exprLanguage.Hscript)
        elif kind == "tuple":
            for parm in target:
                if _has_expression(parm):
                    parm.deleteAllKeyframes()
            target.set(payload)
        else:
            if _has_expression(target):
                target.deleteAllKeyframes()
            target.set(payload)
        entry = {"parm": name, "old": old, "new": _current(target)}
        if kind == "expression":
            entry["expression"] = payload
        changed.append(entry)
    return changed
