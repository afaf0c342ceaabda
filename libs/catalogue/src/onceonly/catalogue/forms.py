"""Form schemas per matter: JSON Schema (draft 2020-12) with personal fields marked.

A matter's `form_schema` describes the free-form `form` of its applications. A property
marked `"x-personal": "name" | "id_number" | "mobile"` holds personal data: intake
validates it like the applicant's, seals it and shows it masked. The marks are found by
walking `properties` of objects only (not `items`, `$defs`, combinators), so a form's
personal fields are known by their paths without evaluating the schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jsonschema_rs

Path = tuple[str, ...]
PERSONAL_KEYWORD = "x-personal"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class PersonalKind(StrEnum):
    NAME = "name"
    ID_NUMBER = "id_number"
    MOBILE = "mobile"


class FormSchemaError(ValueError):
    """A form schema that is not valid JSON Schema or breaks our rules for one."""


@dataclass(frozen=True, slots=True)
class FormViolation:
    """One way a form breaks its schema, without quoting the value (it may be personal).

    `path` is the place in the form (keys and list indexes); `code` is for machines:
    `unknown_field`, `required`, `type`, `format`, `enum`, `pattern`, `too_long`,
    `too_short`, `out_of_range`, `invalid`.
    """

    path: tuple[str | int, ...]
    code: str
    detail: str


_CODES = {
    "type": "type",
    "format": "format",
    "enum": "enum",
    "const": "enum",
    "pattern": "pattern",
    "maxLength": "too_long",
    "maxItems": "too_long",
    "maxProperties": "too_long",
    "minLength": "too_short",
    "minItems": "too_short",
    "minProperties": "too_short",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "exclusiveMinimum": "out_of_range",
    "exclusiveMaximum": "out_of_range",
    "multipleOf": "out_of_range",
}


def _detail(kind: Any) -> str:
    # Built from the schema's side of the error only: jsonschema_rs's own messages quote
    # the offending value, which may be a mistyped ID number.
    name = kind.name
    facts = kind.as_dict()
    if name == "type":
        return f"must be of type {' or '.join(str(t) for t in facts.get('types', []))}"
    if name == "format":
        return f"must be a valid {facts.get('format')}"
    if name == "enum":
        return f"must be one of: {', '.join(str(o) for o in facts.get('options', []))}"
    if name == "pattern":
        return f"must match the pattern {facts.get('pattern')}"
    if name in ("maxLength", "maxItems", "maxProperties"):
        return f"is too long (at most {facts.get('limit')})"
    if name in ("minLength", "minItems", "minProperties"):
        return f"is too short (at least {facts.get('limit')})"
    if name in ("minimum", "exclusiveMinimum"):
        return f"must be at least {facts.get('limit')}" + (
            " (exclusive)" if name.startswith("exclusive") else ""
        )
    if name in ("maximum", "exclusiveMaximum"):
        return f"must be at most {facts.get('limit')}" + (
            " (exclusive)" if name.startswith("exclusive") else ""
        )
    return "is not valid here"


class FormSchema:
    """One matter's compiled form schema and the paths of its personal fields."""

    def __init__(self, schema: Mapping[str, Any], *, origin: str = "form_schema") -> None:
        self.schema = dict(schema)
        check_schema(self.schema, origin=origin)
        self._validator = jsonschema_rs.Draft202012Validator(self.schema, validate_formats=True)
        self.personal: dict[Path, PersonalKind] = dict(personal_fields(self.schema))

    def violations(self, form: Mapping[str, Any]) -> list[FormViolation]:
        """Every way `form` breaks the schema, unknown fields one by one, in path order."""
        found: list[FormViolation] = []
        for error in self._validator.iter_errors(dict(form)):
            path = tuple(error.instance_path)
            kind = error.kind
            if kind.name == "additionalProperties":
                found.extend(
                    FormViolation((*path, str(name)), "unknown_field", "is not a form field")
                    for name in kind.as_dict().get("unexpected", [])
                )
            elif kind.name == "required":
                name = str(kind.as_dict().get("property"))
                found.append(FormViolation((*path, name), "required", "is required"))
            else:
                found.append(FormViolation(path, _CODES.get(kind.name, "invalid"), _detail(kind)))
        return sorted(set(found), key=lambda v: (tuple(str(p) for p in v.path), v.code))


def check_schema(schema: Mapping[str, Any], *, origin: str = "form_schema") -> None:
    """Refuse a schema that is not draft 2020-12, lets unknown fields through, or marks
    a field personal wrongly (an unknown kind, not a string, or outside `properties`)."""
    if schema.get("$schema", DIALECT) != DIALECT:
        raise FormSchemaError(f"{origin}: must be JSON Schema draft 2020-12 ($schema {DIALECT})")
    try:
        jsonschema_rs.meta.validate(dict(schema))
    except jsonschema_rs.ValidationError as exc:
        raise FormSchemaError(f"{origin}: not a valid JSON Schema: {exc.message}") from None
    if schema.get("type") != "object":
        raise FormSchemaError(f"{origin}: a form is an object (type: object)")
    for path, node in _objects(schema, ()):
        # `properties` even when empty: without it the validator reports a stray field
        # as a bare `false` schema, without its name.
        if node.get("additionalProperties") is not False or "properties" not in node:
            where = "/".join(path) or "(top)"
            raise FormSchemaError(
                f"{origin}: {where}: objects must list their properties and say"
                " additionalProperties: false"
            )
    _check_marks(schema, origin, placed=True, path=())


def _objects(node: Mapping[str, Any], path: Path) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    if node.get("type") == "object" or "properties" in node:
        yield path, node
    for name, child in (node.get("properties") or {}).items():
        if isinstance(child, Mapping):
            yield from _objects(child, (*path, name))
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _objects(items, (*path, "[]"))


def _check_marks(node: Any, origin: str, *, placed: bool, path: tuple[str, ...]) -> None:
    """`placed`: `node` is the schema of a named property (or the root), reached through
    `properties` only; a mark anywhere else would not be found, and so not sealed."""
    if isinstance(node, list):
        for item in node:
            _check_marks(item, origin, placed=False, path=path)
        return
    if not isinstance(node, Mapping):
        return
    where = "/".join(path) or "(top)"
    if PERSONAL_KEYWORD in node:
        kind = node[PERSONAL_KEYWORD]
        if kind not in {k.value for k in PersonalKind}:
            known = ", ".join(k.value for k in PersonalKind)
            raise FormSchemaError(f"{origin}: {where}: unknown x-personal {kind!r} ({known})")
        if not placed or not path:
            raise FormSchemaError(
                f"{origin}: {where}: x-personal marks a named property (under properties)"
            )
        if node.get("type") != "string":
            raise FormSchemaError(f"{origin}: {where}: a personal field is a string")
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            for name, child in value.items():
                _check_marks(child, origin, placed=placed, path=(*path, str(name)))
        elif key not in (PERSONAL_KEYWORD, "enum", "const", "examples", "default"):
            _check_marks(value, origin, placed=False, path=(*path, key))


def personal_fields(schema: Mapping[str, Any]) -> Iterator[tuple[Path, PersonalKind]]:
    """The path of every field marked personal, and its kind."""

    def walk(node: Mapping[str, Any], path: Path) -> Iterator[tuple[Path, PersonalKind]]:
        for name, child in (node.get("properties") or {}).items():
            if not isinstance(child, Mapping):
                continue
            if PERSONAL_KEYWORD in child:
                yield (*path, name), PersonalKind(child[PERSONAL_KEYWORD])
            yield from walk(child, (*path, name))

    yield from walk(schema, ())
