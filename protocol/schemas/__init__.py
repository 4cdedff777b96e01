"""JSON Schemas of the metadata records (metadata/*.schema.json) and a validator that reports every
problem at once, each with its field and a reason in English and Vietnamese.

The schemas are the published contract (other systems can validate with any JSON Schema library); the
dataclass checks in protocol.metadata add what a schema cannot say (real calendar dates, start before
end). A test keeps the code tables in the schemas equal to those in protocol.metadata.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

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


def _labels(schema: dict[str, Any], field: str) -> tuple[str, str]:
    prop = schema.get("properties", {}).get(field, {})
    return prop.get("description", field), prop.get("title", field)


def _problem(schema: dict[str, Any], error: Any) -> list[Problem]:
    """One jsonschema error -> plain reasons (English, Vietnamese) for the field it concerns."""
    kind, value, v = error.validator, error.validator_value, error.instance
    if kind == "required":
        fields = [f for f in value if isinstance(error.instance, dict) and f not in error.instance]
        return [Problem(f, "required", f"{_labels(schema, f)[1]}: bắt buộc nhập") for f in fields]
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        return [Problem(f, "unknown field", f"Trường {f!r} không có trong lược đồ") for f in extra]
    field = str(error.absolute_path[0]) if error.absolute_path else ""
    en, vi = _labels(schema, field)
    if kind == "enum":
        return [Problem(field, f"{en}: unknown code {v!r}; expected one of {', '.join(map(str, value))}",
                        f"{vi}: mã {v!r} không hợp lệ")]
    if kind == "anyOf":  # code or empty: the code table is the interesting branch
        branch: dict[str, Any] = next((b for b in value if "enum" in b), {})
        allowed = ", ".join(branch.get("enum", []))
        return [Problem(field, f"{en}: unknown code {v!r}; expected one of {allowed} or empty",
                        f"{vi}: mã {v!r} không hợp lệ")]
    if kind == "pattern":
        return [Problem(field, f"{en}: {v!r} has the wrong form", f"{vi}: {v!r} không đúng định dạng")]
    if kind == "type":
        return [Problem(field, f"{en}: must be of type {value}, got {type(v).__name__}",
                        f"{vi}: sai kiểu dữ liệu (cần {value})")]
    if kind == "minLength":
        return [Problem(field, f"{en}: required", f"{vi}: bắt buộc nhập")]
    if kind == "maxLength":
        return [Problem(field, f"{en}: longer than {value} characters", f"{vi}: dài quá {value} ký tự")]
    if kind in ("minimum", "maximum"):
        word, word_vi = ("at least", "không nhỏ hơn") if kind == "minimum" else ("at most", "không lớn hơn")
        return [Problem(field, f"{en}: must be {word} {value}, got {v!r}", f"{vi}: phải {word_vi} {value}")]
    if kind == "const":
        return [Problem(field, f"{en}: must be {value!r}", f"{vi}: phải là {value!r}")]
    return [Problem(field, f"{en}: {error.message}", f"{vi}: giá trị không hợp lệ")]


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
