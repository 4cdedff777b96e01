"""The software's name and version as packages record them (PREMIS agents, the METS creator agent).

The version is the installed distribution's (pyproject.toml), never a second literal: a package made by a
new release says so."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    try:
        return version("sohoa")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


VERSION = _version()
SOFTWARE = f"sohoa {VERSION}"  # "<name> <version>": mets.py splits it into CSIP14's name and CSIP15's version
