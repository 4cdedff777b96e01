"""A pytest plugin that counts this process's open descriptors around each test and each test module.

paho-mqtt's network loop uses select(), which cannot watch a descriptor numbered 1024 or more: a test that
leaves descriptors open (a database, a server, a socket) pushes every later MQTT test towards that wall, and
the suite then fails far from the cause. A test module that ends with more than SOHOA_FD_LEAK_LIMIT (default 4)
descriptors more than it started with (its tests, their fixtures and its module fixtures; what session
fixtures open is theirs to keep) fails in its last test's teardown, naming the tests that left descriptors and
what stayed open. Counted after pytest has let go of each test's fixture values, and after a garbage
collection: what the collector closes is not a leak the next test sees. SOHOA_FD_REPORT=path appends a line
per test and module: name, open before, open after, the difference, the highest descriptor number so far.
"""

from __future__ import annotations

import gc
import os

import pytest
from _pytest.reports import TestReport

LIMIT = int(os.environ.get("SOHOA_FD_LEAK_LIMIT", "4"))


def open_fds() -> dict[int, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor listdir itself used, gone already
            pass
    return found


class FdWatch:
    def __init__(self) -> None:
        self.inherited = set(open_fds())  # from the parent (the job runner's high-numbered pipe, say)
        self.peak = 0  # the highest descriptor number this process opened, seen between tests
        self.session_opened = 0  # what session fixtures opened (kept until the end, on purpose)
        self.module_before: dict[int, str] | None = None
        self.module_session_opened = 0
        self.module_tests: list[tuple[str, int]] = []
        self.report = os.environ.get("SOHOA_FD_REPORT")

    def _write(self, name: str, before: int, after: int) -> None:
        if self.report:
            with open(self.report, "a", encoding="utf-8") as out:
                out.write(f"{name}\t{before}\t{after}\t{after - before}\t{self.peak}\n")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        if fixturedef.scope != "session":
            yield
            return
        before = len(open_fds())
        yield
        self.session_opened += len(open_fds()) - before

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        before = open_fds()
        if self.module_before is None:
            self.module_before, self.module_session_opened = before, self.session_opened
        yield  # setup, call, teardown; then pytest drops the test's fixture values
        after = open_fds()
        if len(after) > len(before):
            gc.collect()
            after = open_fds()
        self.peak = max(self.peak, max(set(after) - self.inherited, default=0))
        self._write(item.nodeid, len(before), len(after))
        if len(after) != len(before):
            self.module_tests.append((item.name, len(after) - len(before)))
        if nextitem is not None and nextitem.path == item.path:
            return
        start, self.module_before = self.module_before, None
        if len(after) > len(start):
            gc.collect()  # module fixtures closed just now, in this test's teardown
            after = open_fds()
        leaked = len(after) - len(start) - (self.session_opened - self.module_session_opened)
        self._write(f"{item.path.name} (whole module)", len(start), len(start) + leaked)
        tests, self.module_tests = self.module_tests, []
        if leaked > LIMIT:
            new = sorted({target for fd, target in after.items() if start.get(fd) != target})
            message = (f"{item.path.name} left {leaked} descriptors open (limit {LIMIT}; SOHOA_FD_LEAK_LIMIT); "
                       f"per test: {', '.join(f'{name} {n:+d}' for name, n in tests)}; "
                       f"open now: {new[:20]}")
            report = TestReport(item.nodeid, item.location, {}, "failed", message, "teardown")
            item.ihook.pytest_runtest_logreport(report=report)

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(f"open descriptors: highest number {self.peak}, open now {len(open_fds())}")


def pytest_configure(config):
    config.pluginmanager.register(FdWatch(), "sohoa-fdwatch")
