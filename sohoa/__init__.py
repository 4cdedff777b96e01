"""The `sohoa` command line and the end-to-end demo: wiring only, the parts live in station/ and server/."""

__version__ = "0.1.0"
