"""The server keeps answering when its process holds more than 1024 file descriptors.

waitress's default loop uses select(), which refuses any descriptor above 1023 ("filedescriptor out of
range in select()") and kills the loop thread: the server then accepts connections and never answers. A busy
archive (many stations, open packages, database files) can pass 1024; the server uses poll() instead.
"""

from __future__ import annotations

import sys

import requests

WRAPPER = (
    "import os, resource, sys\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), max(hard, 4096)))\n"
    "held = [os.open('/dev/null', os.O_RDONLY) for _ in range(1100)]  # the listening socket comes after\n"
    "from sohoa.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_server_answers_with_more_than_1024_descriptors_open(server_process):
    server_process.argv = [sys.executable, "-c", WRAPPER, *server_process.argv[3:]]
    server_process.start(timeout=30)  # waits for /api/v1/health to answer
    for _ in range(20):  # new connections get descriptors above 1100 too
        assert requests.get(server_process.url + "/api/v1/health", timeout=5).ok
