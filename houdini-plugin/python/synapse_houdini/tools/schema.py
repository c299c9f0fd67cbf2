"""A small JSON Schema validator for the subset the catalogue's schemas use (stdlib only).

Supported keywords: ``type`` (a name or a list of names), ``properties``,
``required``, ``additionalProperties`` (false or a schema), ``items``, ``enum``,
``minimum``/``maximum``, ``minLength``/``maxLength``, ``minItems``/``maxItems``,
``maxProperties``, ``pattern`` (a trailing newline never matches a ``$``-anchored
pattern) and ``default`` (filled in for missing top-level properties).
Anything else in a schema is documentation and ignored.

:func:`validate` raises :class:`InvalidInput` naming the offending field, e.g.
``input.limit: expected integer, got string "10"``.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from ..errors import ToolError


class InvalidInput(ToolError):
    """The tool input does not match the tool's schema (nothing was changed)."""

    error_type = "InvalidInput"


_TYPE_NAMES = {
    "object": "object",
    "array": "array",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _matches_type(value: Any, name: str) -> bool:
    actual = _json_type(value)
    if name == "number":
        return actual in ("integer", "number") and (actual == "integer" or math.isfinite(value))
    if name == "integer":
        return actual == "integer" or (actual == "number" and math.isfinite(value) and float(value).is_integer())
    return actual == name


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else '"' + value + '"'
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, schema: dict, where: str) -> None:
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_matches_type(value, n) for n in names):
            raise InvalidInput(f"{where}: expected {' or '.join(names)}, got {_json_type(value)} {_show(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidInput(f"{where}: {_show(value)} is not one of {schema['enum']}")
    if _json_type(value) in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidInput(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidInput(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise InvalidInput(f"{where}: must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidInput(f"{where}: has {len(value)} characters, more than the {schema['maxLength']} allowed")
        pattern = schema.get("pattern")
        if pattern is not None:
            anchored_end = pattern.endswith("$")
            if re.search(pattern, value) is None or (anchored_end and value.endswith("\n")):
                raise InvalidInput(f"{where}: {_show(value)} does not match the pattern {pattern}")
    if isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise InvalidInput(f"{where}: needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidInput(f"{where}: has {len(value)} items, more than the {schema['maxItems']} allowed")
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _check(item, items, f"{where}[{index}]")
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise InvalidInput(f"{where}: keys must be strings, got {_show(key)}")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            raise InvalidInput(f"{where}: has {len(value)} fields, more than the {schema['maxProperties']} allowed")
        for key in schema.get("required", ()):
            if key not in value:
                raise InvalidInput(f"{where}.{key}: is required but missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                _check(item, props[key], f"{where}.{key}")
            elif extra is False:
                allowed = ", ".join(sorted(props)) or "none"
                raise InvalidInput(f"{where}.{key}: unknown field (allowed: {allowed})")
            elif isinstance(extra, dict):
                _check(item, extra, f"{where}.{key}")


def validate(value: Any, schema: dict) -> dict:
    """Check *value* (a tool input) against *schema*; return a copy with defaults filled in.

    ``None`` counts as ``{}``. Integral floats given for ``integer`` fields are
    converted to ``int``.
    """
    if value is None:
        value = {}
    _check(value, schema, "input")
    out = dict(value)
    for key, prop in schema.get("properties", {}).items():
        if key not in out and "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
        elif key in out and prop.get("type") == "integer" and isinstance(out[key], float):
            out[key] = int(out[key])
    return out


__all__ = ["InvalidInput", "validate"]
