"""Helpers shared by the tests (fixtures live in the conftest.py files; tests import helpers from here)."""
