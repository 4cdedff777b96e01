"""JSON Schemas of the metadata records (metadata/*.schema.json) and a validator that reports every
problem at once, each with its field and a reason by key (shown in the reader's language).

The schemas are the published contract (other systems can validate with any JSON Schema library); the
dataclass checks in protocol.metadata add what a schema cannot say (real calendar dates, start before
end). A test keeps the code tables in the schemas equal to those in protocol.metadata.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from protocol.errors import Label, say
from protocol.i18n import N_
from protocol.metadata import Problem

SCHEMA_DIR = Path(__file__).parent
RECORDS = ("hoso", "document", "fonds")


@cache
def record_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of `kind` (hoso | document | fonds)."""
    if kind not in RECORDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(RECORDS)}")
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / "metadata" / f"{kind}.schema.json").read_text(encoding="utf-8"))
    return schema


def _label(schema: dict[str, Any], field: str) -> Label:
    """The field's name from the schema itself: `description` in English, `title` in Vietnamese."""
    prop = schema.get("properties", {}).get(field, {})
    return Label({"en": prop.get("description", field), "vi": prop.get("title", field)})


def _problem(schema: dict[str, Any], error: Any) -> list[Problem]:
    """One jsonschema error -> plain reasons (by key, shown in the reader's language) for its field."""
    kind, value, v = error.validator, error.validator_value, error.instance
    if kind == "required":
        fields = [f for f in value if isinstance(error.instance, dict) and f not in error.instance]
        return [Problem(f, say(N_("%(label)s: required"), label=_label(schema, f))) for f in fields]
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        return [Problem(f, say(N_("Field '%(field)s' is not in the schema"), field=f)) for f in extra]
    field = str(error.absolute_path[0]) if error.absolute_path else ""
    label = _label(schema, field)
    if kind == "enum":
        return [Problem(field, say(N_("%(label)s: unknown code '%(value)s'; expected one of %(codes)s"),
                                   label=label, value=v, codes=", ".join(map(str, value))))]
    if kind == "anyOf":  # code or empty: the code table is the interesting branch
        branch: dict[str, Any] = next((b for b in value if "enum" in b), {})
        allowed = ", ".join(branch.get("enum", []))
        return [Problem(field, say(N_("%(label)s: unknown code '%(value)s'; expected one of %(codes)s or empty"),
                                   label=label, value=v, codes=allowed))]
    if kind == "pattern":
        return [Problem(field, say(N_("%(label)s: '%(value)s' has the wrong form"), label=label, value=v))]
    if kind == "type":
        return [Problem(field, say(N_("%(label)s: must be of type %(type)s, got %(got)s"), label=label,
                                   type=value, got=type(v).__name__))]
    if kind == "minLength":
        return [Problem(field, say(N_("%(label)s: required"), label=label))]
    if kind == "maxLength":
        return [Problem(field, say(N_("%(label)s: longer than %(limit)s characters"), label=label, limit=value))]
    if kind == "minimum":
        return [Problem(field, say(N_("%(label)s: must be at least %(limit)s, got %(value)s"), label=label,
                                   limit=value, value=v))]
    if kind == "maximum":
        return [Problem(field, say(N_("%(label)s: must be at most %(limit)s, got %(value)s"), label=label,
                                   limit=value, value=v))]
    if kind == "const":
        return [Problem(field, say(N_("%(label)s: must be '%(value)s'"), label=label, value=value))]
    return [Problem(field, say(N_("%(label)s: the value is not valid (%(error)s)"), label=label,
                               error=error.message))]


def check_record(kind: str, data: dict[str, Any]) -> list[Problem]:
    """Every problem of `data` against the `kind` schema (empty when valid), sorted by field."""
    from jsonschema import Draft202012Validator

    schema = record_schema(kind)
    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        # if/then failures carry the real errors in their context: report those, not "then failed"
        errors = [error]
        while errors and errors[0].validator in ("allOf",) and errors[0].context:
            errors = list(errors[0].context)
        for err in errors:
            for problem in _problem(schema, err):
                if problem not in problems:
                    problems.append(problem)
    return sorted(problems, key=lambda p: p.field)


__all__ = ["RECORDS", "SCHEMA_DIR", "check_record", "record_schema"]
