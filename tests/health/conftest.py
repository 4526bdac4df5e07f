"""Fixtures of the health tests: the dispatch tests' lab inventory (director, rs1, rs2, one TUN service)."""

from tests.dispatch.conftest import lab  # noqa: F401 (a fixture, used by name)
