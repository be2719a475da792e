"""The part of JSON Schema that function calling needs: whether a call's arguments match a
tool's ``parameters``, how a text value of the XML call form becomes the type the schema asks
for, and whether a schema a client sends is one we can read.

Checked: ``type`` (one or a list), ``enum``, ``const``, an object's ``properties``,
``required`` and ``additionalProperties``, an array's ``items``, ``anyOf`` / ``oneOf`` (any one
matching). Other keywords (formats, lengths, patterns, ``$ref`` ...) are not checked: a call
they would refuse goes through, as no model is trained to meet them exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def mismatch(value: Any, schema: Any, where: str = "arguments") -> str | None:
    """Why ``value`` does not match ``schema`` (one clause naming the place), or None."""
    if not isinstance(schema, dict) or not schema:
        return None
    kinds = _types(schema)
    if kinds and not any(_is(value, kind) for kind in kinds):
        return f"{where} is {_kind_of(value)}, not {' or '.join(kinds)}"
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        return f"{where} is not one of {json.dumps(schema['enum'], ensure_ascii=False)[:80]}"
    if "const" in schema and value != schema["const"]:
        return f"{where} is not {json.dumps(schema['const'], ensure_ascii=False)[:80]}"
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if isinstance(options, list) and options:
            if all(mismatch(value, option, where) for option in options):
                return f"{where} matches none of the schemas its {keyword} allows"
    if isinstance(value, dict):
        return _object_mismatch(value, schema, where)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            why = mismatch(item, schema["items"], f"{where}[{i}]")
            if why:
                return why
    return None


def _object_mismatch(value: dict, schema: dict, where: str) -> str | None:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    for key in required if isinstance(required, list) else []:
        if key not in value:
            return f"{where} lacks the required {key!r}"
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            why = mismatch(item, properties[key], f"{where}.{key}")
        elif extra is False:
            why = f"{where} has {key!r}, which the schema does not allow"
        else:
            why = mismatch(item, extra, f"{where}.{key}") if isinstance(extra, dict) else None
        if why:
            return why
    return None


def coerce(text: str, schema: Any) -> tuple[Any, bool]:
    """(the value, True) of a parameter the XML form writes as text, as its schema's type
    says; (None, False) when the text is not of that type. A string where the schema names
    no type (or a type we do not know)."""
    kinds = _types(schema if isinstance(schema, dict) else {})
    if not kinds or "string" in kinds:
        return text, True
    stripped = text.strip()
    for kind in kinds:
        value, ok = _as(stripped, kind)
        if ok:
            return value, True
    return None, False


def _as(text: str, kind: str) -> tuple[Any, bool]:
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true", True
        return None, False
    if kind == "null":
        return None, text.lower() in ("null", "none")
    try:
        value = json.loads(text)
    except ValueError:
        return None, False
    if not _is(value, kind):
        return None, False
    return (int(value) if kind == "integer" else value), True


def schema_problem(schema: Any, where: str) -> str | None:
    """Why ``schema`` (a tool's ``parameters``, a client's) cannot be read, or None."""
    if not isinstance(schema, dict):
        return f"{where} must be a JSON Schema object"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in TYPES:
            return f"{where}.type must be one of {', '.join(TYPES)}, not {json.dumps(k)[:40]}"
    for name in ("properties", "$defs", "definitions"):
        if name in schema:
            inner = schema[name]
            if not isinstance(inner, dict):
                return f"{where}.{name} must be an object"
            for key, sub in inner.items():
                why = schema_problem(sub, f"{where}.{name}.{key}")
                if why:
                    return why
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        return f"{where}.required must be a list of property names"
    if "enum" in schema and not isinstance(schema["enum"], list):
        return f"{where}.enum must be a list"
    items = schema.get("items")
    if isinstance(items, dict):
        return schema_problem(items, f"{where}.items")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return schema_problem(extra, f"{where}.additionalProperties")
    for keyword in ("anyOf", "oneOf", "allOf"):
        if keyword in schema:
            options = schema[keyword]
            if not isinstance(options, list):
                return f"{where}.{keyword} must be a list of schemas"
            for i, option in enumerate(options):
                why = schema_problem(option, f"{where}.{keyword}[{i}]")
                if why:
                    return why
    return None


def _types(schema: dict) -> list[str]:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    return [k for k in kinds if k in TYPES]


def _is(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "integer":
        return isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())
    return kind == "number" and (isinstance(value, int) or math.isfinite(value))


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "null"
