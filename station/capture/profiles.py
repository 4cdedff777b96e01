"""Scanner profiles: data files in hardware/profiles/ mapping the station's logical settings to each
SANE backend's own option names and values.

A profile is checked twice: its shape when the file is loaded, and its option names against the device's
real option list when it is bound to an open device. python-sane accepts any attribute name silently,
so a misspelt name would otherwise be a no-op that nobody notices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.errors import say
from protocol.i18n import N_
from station.capture.source import CaptureRefused

PROFILE_DIR = Path(__file__).resolve().parents[2] / "hardware" / "profiles"

#: Logical settings a profile may map to a backend option name.
LOGICAL_OPTIONS = ("source", "mode", "resolution", "depth", "tl_x", "tl_y", "br_x", "br_y",
                   "page_width", "page_height", "brightness", "contrast")
REQUIRED_OPTIONS = ("mode", "resolution")
KEYS = {"family", "title", "backends", "options", "optional", "sources", "modes", "duplex", "fixed", "double_feed",
        "notes"}
DUPLEX = ("interleaved", "none")


class ProfileError(CaptureRefused):
    """A profile that does not fit its schema or its device."""

    def __init__(self, message: str, **params: Any):
        super().__init__("profile", N_("The scanner profile is not valid: %(problem)s. Tell the technician."),
                         problem=say(message, **params))


def py_name(name: str) -> str:
    """SANE option names use hyphens; python-sane exposes them with underscores."""
    return name.replace("-", "_")


@dataclass
class Profile:
    family: str
    title: str
    backends: list[str]
    options: dict[str, str]  # logical -> SANE option name (as the backend documents it)
    optional: list[str] = field(default_factory=list)  # logical options a device of this family may lack
    sources: dict[str, list[str]] = field(default_factory=dict)  # logical source -> candidate values
    modes: dict[str, list[str]] = field(default_factory=dict)
    duplex: str = "interleaved"  # duplex frames arrive front, back, front, back...
    fixed: dict[str, Any] = field(default_factory=dict)  # SANE option name -> value, set on every scan
    # SANE option name -> value that turns the scanner's double-feed detection on, set in this order where the
    # device offers the option and it is active (models of one family differ; the first often activates the
    # rest, as fujitsu's df-action=Stop does for df-thickness/df-length). Never required: a help, not a rule.
    double_feed: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> Profile:
        where = f" in {path.name}" if path else ""
        unknown = set(data) - KEYS
        if unknown:
            raise ProfileError(f"unknown keys {sorted(unknown)}{where}")
        for key in ("family", "backends", "options"):
            if key not in data:
                raise ProfileError(f"missing {key!r}{where}")
        options = data["options"]
        bad = set(options) - set(LOGICAL_OPTIONS)
        if bad:
            known = ", ".join(LOGICAL_OPTIONS)
            raise ProfileError(f"unknown logical options {sorted(bad)}{where} (known: {known})")
        for key in REQUIRED_OPTIONS:
            if key not in options:
                raise ProfileError(f"logical option {key!r} is not mapped{where}")
        sources = {k: _as_list(v) for k, v in data.get("sources", {}).items()}
        if stray := set(sources) - {"flatbed", "adf", "adf_duplex"}:
            raise ProfileError(f"unknown sources {sorted(stray)}{where}")
        modes = {k: _as_list(v) for k, v in data.get("modes", {}).items()}
        if "color" not in modes:
            raise ProfileError(f"no value for colour mode{where}")
        if data.get("duplex", "interleaved") not in DUPLEX:
            raise ProfileError(f"duplex must be one of {DUPLEX}{where}")
        optional = list(data.get("optional", []))
        if stray := set(optional) - set(options):
            raise ProfileError(f"optional names unmapped options {sorted(stray)}{where}")
        return cls(family=data["family"], title=data.get("title", data["family"]),
                   backends=list(data["backends"]), options=dict(options), optional=optional,
                   sources=sources, modes=modes,
                   duplex=data.get("duplex", "interleaved"), fixed=dict(data.get("fixed", {})),
                   double_feed=dict(data.get("double_feed", {})),
                   notes=data.get("notes", ""), path=path)

    def bind(self, device_options: dict[str, Any], *, device: str = "") -> BoundProfile:
        """Check every option name against the device's list (python names); return what applies."""
        offered = set(device_options)
        mapped: dict[str, str] = {}
        missing = []
        for logical, name in self.options.items():
            if py_name(name) in offered:
                mapped[logical] = py_name(name)
            elif logical not in self.optional:
                missing.append(name)
        for name in self.fixed:
            if py_name(name) not in offered:
                missing.append(name)
        if missing:
            raise ProfileError(
                f"profile {self.family!r} names options that {device or 'the device'} does not offer: "
                f"{', '.join(sorted(missing))} (offered: {', '.join(sorted(offered))})")
        return BoundProfile(self, mapped, device_options)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass
class BoundProfile:
    profile: Profile
    names: dict[str, str]  # logical -> python-sane option name present on the device
    device_options: dict[str, Any]  # python name -> sane.Option

    def choose(self, logical: str, table: dict[str, list[str]], wanted: str) -> str:
        """The first candidate value the device offers for a logical choice (source, mode)."""
        candidates = table.get(wanted)
        if not candidates:
            raise ProfileError(f"profile {self.profile.family!r} has no value for {logical} {wanted!r}")
        name = self.names.get(logical)
        offered = getattr(self.device_options.get(name), "constraint", None) if name else None
        if not isinstance(offered, list):
            return candidates[0]
        for value in candidates:
            if value in offered:
                return value
        raise CaptureRefused(
            "unsupported",
            N_("the device offers no %(logical)s for '%(wanted)s' (tried %(candidates)s, offered %(offered)s)"),
            logical=logical, wanted=wanted, candidates=candidates, offered=offered)


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from exc
    return Profile.from_dict(data, path=path)


def all_profiles(folder: Path = PROFILE_DIR) -> list[Profile]:
    return [load_profile(path) for path in sorted(folder.glob("*.json"))]


def profile_for(device: str, folder: Path = PROFILE_DIR) -> Profile:
    """The profile whose `backends` include the device's backend (the part before ':'), else 'generic'."""
    backend = device.split(":", 1)[0]
    generic = None
    for profile in all_profiles(folder):
        if backend in profile.backends:
            return profile
        if profile.family == "generic":
            generic = profile
    if generic is None:
        raise ProfileError(f"no profile for backend {backend!r} and no generic profile in {folder}")
    return generic
