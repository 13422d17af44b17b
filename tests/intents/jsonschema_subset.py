"""A small JSON Schema (draft 2020-12) validator for the keywords netpilot's schema uses.

``jsonschema`` is not a dependency; this checks the published schema against instances in
the tests. :data:`KEYWORDS` is every keyword it implements or knowingly ignores
(annotations): a test asserts the schema uses nothing else, so a keyword added to the
schema can never be silently skipped here.
"""

from __future__ import annotations

import re
from typing import Any

ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "examples", "$defs"}
ASSERTIONS = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "const",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "minItems",
    "minProperties",
    "maxItems",
    "uniqueItems",
    "contains",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
}
KEYWORDS = ANNOTATIONS | ASSERTIONS


def keywords_used(schema: Any) -> set[str]:
    """Every keyword appearing in a schema (property names excluded)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    found |= keywords_used(sub)
            elif key in ("oneOf", "anyOf", "allOf"):
                for sub in value:
                    found |= keywords_used(sub)
            elif key in ("items", "contains", "not", "if", "then", "else") or (
                key == "additionalProperties" and isinstance(value, dict)
            ):
                found |= keywords_used(value)
    return found


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _is_type(instance: Any, name: str) -> bool:
    match name:
        case "object":
            return isinstance(instance, dict)
        case "array":
            return isinstance(instance, list)
        case "string":
            return isinstance(instance, str)
        case "boolean":
            return isinstance(instance, bool)
        case "null":
            return instance is None
        case "integer":
            if isinstance(instance, bool):
                return False
            return isinstance(instance, int) or (
                isinstance(instance, float) and instance.is_integer()
            )
        case "number":
            return isinstance(instance, int | float) and not isinstance(instance, bool)
    raise ValueError(f"unknown type {name}")


# one branch per keyword, as in the specification: splitting it would hide the mapping
def errors(instance: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:  # noqa: C901
    """Every violation of ``schema`` by ``instance`` (empty: valid)."""
    root = schema if root is None else root
    if schema is True:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    found: list[str] = []
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"keywords not implemented: {sorted(unknown)}")
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        found += errors(instance, target, root, path)
    if "type" in schema and not _is_type(instance, schema["type"]):
        return [*found, f"{path}: not of type {schema['type']}"]
    if "const" in schema and not _same(instance, schema["const"]):
        found.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and not any(_same(instance, v) for v in schema["enum"]):
        found.append(f"{path}: must be one of {schema['enum']}")
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            found.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            found.append(f"{path}: above {schema['maximum']}")
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            found.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            found.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            found.append(f"{path}: does not match {schema['pattern']}")
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        if "minProperties" in schema and len(instance) < schema["minProperties"]:
            found.append(f"{path}: fewer than {schema['minProperties']} properties")
        for key in schema.get("required", []):
            if key not in instance:
                found.append(f"{path}: missing {key}")
        for key, value in instance.items():
            if key in properties:
                found += errors(value, properties[key], root, f"{path}.{key}")
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                if extra is False:
                    found.append(f"{path}: unknown property {key}")
                else:
                    found += errors(value, extra, root, f"{path}.{key}")
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            found.append(f"{path}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            for i, a in enumerate(instance):
                if any(_same(a, b) for b in instance[i + 1 :]):
                    found.append(f"{path}: items are not unique")
                    break
        if "items" in schema:
            for i, item in enumerate(instance):
                found += errors(item, schema["items"], root, f"{path}[{i}]")
        if "contains" in schema and not any(
            not errors(item, schema["contains"], root) for item in instance
        ):
            found.append(f"{path}: no item matches 'contains'")
    for sub in schema.get("allOf", []):
        found += errors(instance, sub, root, path)
    if "anyOf" in schema and not any(not errors(instance, s, root) for s in schema["anyOf"]):
        found.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(1 for s in schema["oneOf"] if not errors(instance, s, root))
        if matching != 1:
            found.append(f"{path}: matches {matching} of oneOf, needs exactly 1")
    if "not" in schema and not errors(instance, schema["not"], root):
        found.append(f"{path}: matches 'not'")
    if "if" in schema:
        branch = "then" if not errors(instance, schema["if"], root) else "else"
        if branch in schema:
            found += errors(instance, schema[branch], root, path)
    return found
