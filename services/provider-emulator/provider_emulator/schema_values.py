"""A deterministic JSON value for a JSON schema: a tool call's arguments, a structured answer.

A real model invents arguments; the emulator builds them from the schema, so a test can
recompute them. Objects get their *required* properties only (strict schemas require every
property, so they get all of them); every other value comes from the rules below, applied
in this order:

- ``const``, else the first ``enum`` value;
- ``$ref`` (a local JSON pointer such as ``#/$defs/Unit``): the schema it points at;
- ``anyOf`` / ``oneOf``: the first alternative; ``allOf``: its members merged;
- by ``type`` (a list of types: the first that is not ``"null"``; no type: ``object`` if
  the schema has ``properties``, ``array`` if it has ``items``, else ``string``):
  string ``"emulated <property name>"`` (or a fixed sample for a known ``format``, cut to
  ``maxLength``), integer 1 and number 1.5 (moved into ``minimum``/``maximum``), boolean
  true, null, array of ``max(minItems, 1)`` items (at most ``maxItems``).
"""

import math
from typing import Any

# Deep enough for any real tool schema; a recursive schema that requires itself ends here.
MAX_DEPTH = 32
FORMAT_SAMPLES = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "emulated@example.com",
    "uri": "https://example.com/emulated",
    "url": "https://example.com/emulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
DEFAULT_NAME = "value"


def value_for(schema: Any) -> Any:
    """The value the emulator produces for ``schema`` (which may hold its own ``$defs``)."""
    return _value(schema, schema, DEFAULT_NAME, 0)


def _value(schema: Any, root: Any, name: str, depth: int) -> Any:
    if depth > MAX_DEPTH or not isinstance(schema, dict):
        # ``true`` / ``{}`` accept anything; a string is the most readable anything.
        return None if depth > MAX_DEPTH else f"emulated {name}"
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _value(_resolve(root, ref), root, name, depth + 1)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(options[0], root, name, depth + 1)
    members = schema.get("allOf")
    if isinstance(members, list) and members:
        return _value(_merged(schema, members, root), root, name, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        return {
            key: _value(properties.get(key, {}), root, key, depth + 1)
            for key in required
            if isinstance(key, str)
        }
    if kind == "array":
        return _array(schema, root, name, depth)
    if kind == "integer":
        return int(_number(schema, 1, integer=True))
    if kind == "number":
        return _number(schema, 1.5, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        named = [k for k in kind if isinstance(k, str) and k != "null"]
        return named[0] if named else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _resolve(root: Any, ref: str) -> Any:
    """A local JSON pointer (``#/$defs/X``); anything else resolves to "any value" ({})."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return {}
    target = root
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return {}
    return target


def _merged(schema: dict[str, Any], members: list[Any], root: Any) -> dict[str, Any]:
    """``allOf`` as one schema: the members' keys, properties and required lists combined."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[Any] = list(merged.get("required") or [])
    for member in members:
        if isinstance(member, dict) and isinstance(member.get("$ref"), str):
            member = _resolve(root, member["$ref"])
        if not isinstance(member, dict):
            continue
        for key, value in member.items():
            if key == "properties" and isinstance(value, dict):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required += [r for r in value if r not in required]
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _array(schema: dict[str, Any], root: Any, name: str, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and prefix:
        return [_value(item, root, name, depth + 1) for item in prefix]
    items = schema.get("items", {})
    if isinstance(items, list):  # draft-04 tuple form
        return [_value(item, root, name, depth + 1) for item in items]
    count = max(_int_or(schema.get("minItems"), 0), 1)
    maximum = schema.get("maxItems")
    if isinstance(maximum, int) and not isinstance(maximum, bool):
        count = min(count, maximum)
    return [_value(items, root, name, depth + 1) for _ in range(count)]


def _number(schema: dict[str, Any], preferred: float, *, integer: bool) -> float:
    """``preferred``, moved into the schema's bounds (inside exclusive ones by 1 or 0.5)."""
    value = preferred
    step = 1 if integer else 0.5
    low, above = _bound(schema, "minimum"), _bound(schema, "exclusiveMinimum")
    high, below = _bound(schema, "maximum"), _bound(schema, "exclusiveMaximum")
    if low is not None and value < low:
        value = math.ceil(low) if integer else low
    if above is not None and value <= above:
        value = math.floor(above) + 1 if integer else above + step
    if high is not None and value > high:
        value = math.floor(high) if integer else high
    if below is not None and value >= below:
        value = math.ceil(below) - 1 if integer else below - step
    return value


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _string(schema: dict[str, Any], name: str) -> str:
    text = FORMAT_SAMPLES.get(str(schema.get("format")), f"emulated {name}")
    longest = schema.get("maxLength")
    if isinstance(longest, int) and not isinstance(longest, bool) and longest >= 0:
        text = text[:longest]
    shortest = _int_or(schema.get("minLength"), 0)
    return text.ljust(shortest, "x")


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
