"""Real servers for the tests: the WSGI apps on 127.0.0.1 (waitress), the archive server and the station as
processes, a TCP proxy that cuts connections. Each one closes everything it opened when it stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A WSGI app served by waitress on 127.0.0.1 in a background thread: real sockets, real HTTP."""

    def __init__(self, app):
        from waitress.server import create_server

        self.port = free_port()
        before = set(threading.enumerate())
        # poll(), not select(): the web servers must not depend on descriptor numbers below 1024
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=4, asyncore_loop_timeout=0.1,
                                    asyncore_use_poll=True)
        self.workers = [t for t in threading.enumerate() if t not in before and t.name.startswith("waitress-")]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:
            if not self.closing:  # closing the socket under the poll loop is how waitress stops here
                raise

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing = True
        for channel in list(self.server._map.values()):  # keep-alive connections too: the loop ends at once
            channel.close()
        self.thread.join(timeout=5)
        # The worker threads too: each keeps its own database connections (thread-local) until it has ended,
        # which is after waitress's shutdown() has seen it leave.
        self.server.task_dispatcher.shutdown(timeout=5)
        for worker in self.workers:
            worker.join(timeout=5)


class ServerProcess:
    """`python -m sohoa.cli server --config ...` on a fixed free port; kill -9 and restart it at will."""

    def __init__(self, data_dir: Path, trust_pem: Path, *, env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.data_dir.parent / f"{self.data_dir.name}.toml"
        self.config.write_text(
            f'data_dir = "{self.data_dir}"\nhost = "127.0.0.1"\nport = {self.port}\n'
            f'trust_roots = ["{trust_pem}"]\n', encoding="utf-8")
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.argv = [sys.executable, "-m", "sohoa.cli", "server", "--config", str(self.config)]
        self.env = env or {}
        self.proc = None

    def with_backup(self) -> Path:
        """Give the server a backup store (`backup_dir`, beside its data folder) from its next start; returns it."""
        backup = self.data_dir.parent / f"{self.data_dir.name}-backup"
        with open(self.config, "a", encoding="utf-8") as handle:
            handle.write(f'backup_dir = "{backup}"\n')
        return backup

    def add_station(self, station_id: str) -> dict[str, str]:
        from server.records.db import ServerDB

        db = ServerDB(self.data_dir / "server.db")
        try:
            return db.add_station(station_id)
        finally:
            db.close()

    def start(self, *, env: dict[str, str] | None = None, timeout: float = 30) -> ServerProcess:
        import requests

        run_env = {**os.environ, **self.env, **(env or {})}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         env=run_env)

        def answers() -> bool:
            assert self.proc.poll() is None, f"server exited with {self.proc.returncode}"
            return requests.get(self.url + "/api/v1/health", timeout=1).ok

        try:
            wait_until(answers, timeout, "the server to answer")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.log.read_text()[-3000:]}") from None
        return self

    def kill(self) -> None:
        """SIGKILL, as a power cut would: no cleanup runs."""
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)

    def wait_dead(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.kill()


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that the test controls: forward, or cut every connection after
    `cut_after` bytes sent upstream, or drop the answer to a request whose bytes contain `drop_answer_to`."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.cut_after: int | None = None
        self.drop_answer_to: bytes | None = None
        self.upstream_bytes = 0
        self.cuts = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            state = {"dropping": False}
            threading.Thread(target=self._pipe, args=(client, server, True, state), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False, state), daemon=True).start()

    def _cut(self, a: socket.socket, b: socket.socket) -> None:
        self.cuts += 1
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool, state: dict) -> None:
        try:
            while data := src.recv(65536):
                if upstream:
                    if self.cut_after is not None and self.upstream_bytes + len(data) > self.cut_after:
                        keep = max(self.cut_after - self.upstream_bytes, 0)
                        dst.sendall(data[:keep])
                        self.upstream_bytes += keep
                        self.cut_after = None  # one cut, then forward again
                        self._cut(src, dst)
                        return
                    self.upstream_bytes += len(data)
                    if self.drop_answer_to and self.drop_answer_to in data:
                        state["dropping"] = True
                        self.drop_answer_to = None
                elif state["dropping"]:
                    self._cut(src, dst)  # the server did the work; its answer never arrives
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._sock.close()


class StationProcess:
    """`python -m sohoa.cli station --config ...` on a free port (SANE test backend, one worker), started and
    waited for until /api/status answers; stopped (terminate, then kill) when the `with` block ends."""

    def __init__(self, data_dir: Path, *, device: str = "test:0", extra_config: str = "",
                 env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.data_dir / "station.toml"
        self.config.write_text(f'data_dir = "{self.data_dir}"\nport = {self.port}\ndevice = "{device}"\n'
                               f"workers = 1\n{extra_config}", encoding="utf-8")
        self.log = self.data_dir / "station.log"
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> StationProcess:
        import requests

        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "sohoa.cli", "station", "--config", str(self.config)],
                                         cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        def answers() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            return requests.get(self.url + "/api/status", timeout=2).ok

        try:
            wait_until(answers, 60, "the station to start", interval=0.2)
            return self
        except BaseException:
            self.__exit__()
            raise

    def login(self, code: str, pin: str) -> str:
        import requests

        return requests.post(self.url + "/api/login", json={"operator": code, "pin": pin}, timeout=10).json()["token"]

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def close_context(context: Any) -> None:
    """Close the databases of a server context (server.app.build_context) once its web server has stopped."""
    from server.archive import render

    # The viewer pre-renders first pages on one process-wide background thread, with this context: let it finish.
    render._PREWARM.submit(lambda: None).result(timeout=120)
    monitor = getattr(context, "monitor", None)
    for part in (context.catalog, context.db, monitor):
        close = getattr(part, "close", None)
        if close is not None:
            close()


@contextmanager
def serving(context: Any, app: Any = None) -> Iterator[LiveServer]:
    """The server app of `context` (or `app`) on a LiveServer; the context's databases closed when it stops."""
    if app is None:
        from server.app import create_app

        app = create_app(context)
    try:
        with LiveServer(app) as live:
            yield live
    finally:
        close_context(context)


@contextmanager
def nginx_site(upstream_port: int, tls_dir: Path, folder: Path) -> Iterator[tuple[int, int]]:
    """The project's nginx site (hardware/pi/nginx/sohoa-server.conf) in front of 127.0.0.1:`upstream_port`,
    with the certificate in `tls_dir`, everything else in `folder`; yields (https port, plain http port)."""
    import shutil

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: apt-get install nginx-light"
    port, http_port = free_port(), free_port()
    site = (ROOT / "hardware/pi/nginx/sohoa-server.conf").read_text()
    site = (site.replace("@LISTEN@", f"127.0.0.1:{port}").replace("@HTTP_LISTEN@", f"127.0.0.1:{http_port}")
            .replace("@TLS_DIR@", str(tls_dir)).replace("@UPSTREAM@", f"127.0.0.1:{upstream_port}"))
    (folder / "logs").mkdir(parents=True)
    # The same main context Debian's /etc/nginx/nginx.conf has, with every path inside the test folder.
    (folder / "nginx.conf").write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n access_log {folder}/logs/access.log;\n client_body_temp_path {folder}/body;\n"
        f" proxy_temp_path {folder}/proxy;\n" + site + "\n}\n")
    proc = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def listening() -> bool:
        assert proc.poll() is None, f"nginx exited: {proc.stderr.read().decode()}"
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True

    try:
        wait_until(listening, 15, "nginx to listen", interval=0.1)
        yield port, http_port
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown of its master and worker
        proc.wait(timeout=10)
        proc.stderr.close()
