"""The one configuration loader: TOML into a typed dataclass model, every problem reported at once.

A model is a dataclass; its field types say what a key holds (str, int, float, bool, Path, list[...],
`X | None`), a field whose type is another dataclass is a [section] (its own keys, defaults and ranges:
e.g. a station's processing thresholds), and field metadata adds limits:
    port: int = field(default=8080, metadata={"range": (1, 65535)})
    capture_format: str = field(default="png", metadata={"choices": ("png", "tiff")})
    trust_roots: list[Path] = field(default_factory=list, metadata={"exists": "file"})
Unknown keys, missing required keys, wrong types and values out of range are problems (a key an earlier
release had, named in the model's `RETIRED` {key: why}, is refused with its reason); `load` raises one
ConfigError carrying all of them, whose str() is one line naming the file, the key and what is expected.
Station and server use it at start (`sohoa station|server --config`) and `sohoa config check` uses it too.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.errors import ExitCode, UserError
from protocol.i18n import N_


@dataclass(frozen=True)
class ConfigProblem:
    key: str  # "port", "processing.min_dpi"; "" for the whole file
    message: str  # what is expected, and what was found


class ConfigError(UserError, ValueError):
    """A configuration file that cannot be used: str() is one line (file, key, what is expected)."""

    exit_code = ExitCode.CONFIG
    key = "config"
    default = N_("The configuration cannot be used.")

    def __init__(self, path: str | Path, problems: list[ConfigProblem]):
        self.path = str(path)
        self.problems = problems
        first = problems[0]
        where = f"{self.path}: {first.key}: " if first.key else f"{self.path}: "
        more = f" (and {len(problems) - 1} more problem(s): run `sohoa config check`)" if len(problems) > 1 else ""
        super().__init__(where + first.message + more)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file as a dict, or a ConfigError saying why it cannot be read."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", "file does not exist")]) from None
    except IsADirectoryError:
        raise ConfigError(path, [ConfigProblem("", "is a folder, expected a TOML file")]) from None
    except PermissionError:
        raise ConfigError(path, [ConfigProblem("", "not readable (permissions)")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [ConfigProblem("", f"not UTF-8 text: {exc.reason}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [ConfigProblem("", f"not valid TOML: {exc}")]) from None


def _describe(kind: Any) -> str:
    if kind is bool:
        return "true or false"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a number"
    if kind is str:
        return "a string"
    if kind is Path:
        return "a path (string)"
    if typing.get_origin(kind) is list:
        return f"a list of {_describe(typing.get_args(kind)[0]).removeprefix('a ').removeprefix('an ')}s"
    return getattr(kind, "__name__", str(kind))


def _optional(kind: Any) -> Any:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def _value(kind: Any, value: Any) -> tuple[bool, Any]:
    """(ok, converted) for one TOML value against one field type."""
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if kind is str:
        return isinstance(value, str), value
    if kind is Path:
        ok = isinstance(value, str) and value != ""
        return ok, Path(value) if ok else value
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            return False, value
        inner = typing.get_args(kind)[0]
        out = [_value(inner, v) for v in value]
        return all(ok for ok, _ in out), [v for _, v in out]
    return True, value


def _limits(f: dataclasses.Field[Any], value: Any) -> str:
    """'' if within the field's range/choices, else what is expected."""
    lo_hi = f.metadata.get("range")
    if lo_hi is not None:
        lo, hi = lo_hi
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"expected a value from {lo if lo is not None else '-inf'} to {hi if hi is not None else 'inf'}"
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        return "expected one of " + ", ".join(repr(c) for c in choices)
    kind = f.metadata.get("exists")
    if kind is not None:
        for path in value if isinstance(value, list) else [value]:
            if not (Path(path).is_file() if kind == "file" else Path(path).is_dir()):
                return f"expected an existing {'file' if kind == 'file' else 'folder'}, {path} does not exist"
    return ""


def parse(raw: dict[str, Any], model: type, *, prefix: str = "") -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The sound values (converted) and every problem of `raw` against `model`; nothing raised."""
    hints = typing.get_type_hints(model)
    fields = {f.name: f for f in dataclasses.fields(model)}
    values: dict[str, Any] = {}
    retired: dict[str, str] = getattr(model, "RETIRED", {})
    problems = [ConfigProblem(prefix + k, f"removed setting: {retired[k]}; delete this line") if k in retired
                else ConfigProblem(prefix + k, f"unknown setting (known: {', '.join(sorted(fields))})")
                for k in sorted(set(raw) - set(fields))]
    for name, f in fields.items():
        key = prefix + name
        kind = _optional(hints[name])
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(ConfigProblem(key, f"is required: expected {_describe(kind)}"))
            continue
        value = raw[name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                problems.append(ConfigProblem(key, f"expected a [{key}] section, got {value!r}"))
                continue
            sub, sub_problems = parse(value, kind, prefix=key + ".")
            problems += sub_problems
            if not sub_problems:
                values[name] = kind(**sub)
            continue
        ok, converted = _value(kind, value)
        if not ok:
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            problems.append(ConfigProblem(key, f"expected {_describe(kind)}, got {shown}"))
            continue
        if limit := _limits(f, converted):
            problems.append(ConfigProblem(key, f"{limit}, got {converted!r}"))
            continue
        values[name] = converted
    return values, problems


def load(path: str | Path, model: type, *, section: str = "") -> Any:
    """Read `path` into `model` (or its [section]); raises ConfigError with every problem."""
    raw = read_toml(path)
    if section and set(raw) == {section} and isinstance(raw[section], dict):
        raw = raw[section]
    values, problems = parse(raw, model)
    if problems:
        raise ConfigError(path, problems)
    return model(**values)


def pkcs12_problem(p12: Path, passphrase_file: Path | None) -> str:
    """'' when the PKCS#12 file opens with the passphrase in `passphrase_file` and holds a key with its
    certificate; else what is wrong (never the passphrase itself)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        data = Path(p12).read_bytes()
        phrase = Path(passphrase_file).read_bytes().strip() if passphrase_file else None
    except OSError as exc:
        return f"cannot read the signing key or its passphrase file: {exc.strerror} ({exc.filename})"
    try:
        bundle = pkcs12.load_pkcs12(data, phrase)
    except ValueError:
        return f"{p12} does not open: not a PKCS#12 file, or the passphrase in signing_passphrase_file is wrong"
    if bundle.key is None or bundle.cert is None:
        return f"{p12} holds no private key with its certificate"
    return ""
