"""Fixtures of the security tests (issue #14); the helpers live in secfixtures.py (a unique module name:
`conftest` is ambiguous when several test folders run together)."""

from secfixtures import archive, linked_web, sane_test_device, station, station_web  # noqa: F401 - fixtures
