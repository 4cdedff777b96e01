"""The `sohoa` command line and the end-to-end demo: wiring only, the parts live in station/ and server/."""

from protocol.version import VERSION as __version__  # noqa: F401 - the distribution's version (pyproject.toml)
