"""Test helpers shared by fixtures: databases per run, the CLI as a subprocess, free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from billabled.db import create_sync_engine

BILLABLED = str(Path(sys.executable).parent / "billabled")


def postgres_test_url() -> str | None:
    return os.environ.get("BILLABLED_TEST_DATABASE_URL") or None


def redis_test_url() -> str | None:
    return os.environ.get("BILLABLED_TEST_REDIS_URL") or None


def _maintenance_conninfo(server_url: str) -> str:
    url = make_url(server_url).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


def create_postgres_database(server_url: str, prefix: str = "billabled_test") -> str:
    """Create an empty database on the server of `server_url`; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_maintenance_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(database_url: str) -> None:
    name = make_url(database_url).database
    with psycopg.connect(_maintenance_conninfo(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database_url(tmp_dir: Path) -> str:
    """A fresh, empty database on the backend under test."""
    server = postgres_test_url()
    if server:
        return create_postgres_database(server)
    return f"sqlite:///{tmp_dir / f'{uuid.uuid4().hex[:8]}.db'}"


def drop_database(database_url: str) -> None:
    if database_url.startswith("postgresql"):
        drop_postgres_database(database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(
    args: list[str], env: Mapping[str, str], timeout: float = 60, stdin: str | None = None
) -> CliResult:
    """Run the installed `billabled` command exactly as a user would (`stdin` typed in)."""
    completed = subprocess.run(
        [BILLABLED, *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def wait_for_a_blocked_request(database_url: str, count: int = 1) -> None:
    """Return once `count` statements of this database wait on a lock (PostgreSQL)."""
    engine = create_sync_engine(database_url)
    try:
        deadline = time.monotonic() + 10
        with engine.connect() as connection:
            while time.monotonic() < deadline:
                waiting = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                ).scalar_one()
                connection.rollback()
                if waiting >= count:
                    return
                time.sleep(0.02)
        raise AssertionError("no request waited on a lock")
    finally:
        engine.dispose()


@contextlib.contextmanager
def transaction_in_flight(
    database_url: str, *statements: tuple[str, dict[str, Any]]
) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """Run `statements` (SQL, params) in a transaction of another connection that stays open
    until the block ends, then commits: another request's change, caught half-way (PostgreSQL).
    The block is given a function that runs more statements in that transaction."""
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()

            def run(statement: str, params: dict[str, Any]) -> None:
                connection.execute(text(statement), params)

            for statement, params in statements:
                run(statement, params)
            yield run
            transaction.commit()
    finally:
        engine.dispose()


def request_during(
    database_url: str,
    statements: list[tuple[str, dict[str, Any]]],
    method: str,
    url: str,
    body: Any,
    headers: Mapping[str, str],
) -> httpx.Response:
    """The answer to `method url` with a JSON `body`, sent while `statements` are in flight in
    another transaction: the request is seen waiting on a lock before that transaction commits."""
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(httpx.request(method, url, json=body, headers=headers, timeout=30))

    sender = threading.Thread(target=send)
    with transaction_in_flight(database_url, *statements):
        sender.start()
        wait_for_a_blocked_request(database_url)
    sender.join(30)
    assert answers, "the request did not finish"
    return answers[0]


class TcpForwarder:
    """Listens on 127.0.0.1:`port` and forwards each connection to `target`: stands in for a
    service (Redis) that is unreachable until the forwarder starts and goes away when it stops."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False

    def __enter__(self) -> TcpForwarder:
        listener = socket.socket()
        self._keep(listener)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._stopped = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _keep(self, sock: socket.socket) -> bool:
        """Track `sock` to close it on exit; False (and closed) if the forwarder has stopped."""
        with self._lock:
            if not self._stopped:
                self._sockets.append(sock)
                return True
        sock.close()
        return False

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            if not self._keep(client):
                return
            self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()  # the target is away too: so is this connection
            return
        upstream.settimeout(None)
        if self._keep(upstream):
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class SilenceableForwarder(TcpForwarder):
    """A TcpForwarder that can go silent: while `passing` is clear, what either side sends is
    held, neither answered nor refused (a database behind a network that dropped it without a
    reset), and passed on once it is set again."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        super().__init__(port, target)
        self.passing = threading.Event()
        self.passing.set()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:  # type: ignore[override]
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                self.passing.wait()
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


# PostgreSQL's simple-query message `COMMIT;` (asyncpg ends its transactions with it).
_COMMIT = b"Q\x00\x00\x00\x0cCOMMIT;\x00"


class CommitAnswerLost(TcpForwarder):
    """A TcpForwarder to PostgreSQL that, once `armed`, passes the next `COMMIT` on to the server
    and then cuts the connection, the answer unsent: the transaction committed, and the client
    cannot know it."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        super().__init__(port, target)
        self.armed = threading.Event()
        self.cut = threading.Event()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        if self._keep(upstream):
            silenced = threading.Event()  # this connection's answers are no longer passed on
            threading.Thread(
                target=self._to_server, args=(client, upstream, silenced), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, client, silenced), daemon=True
            ).start()

    def _to_server(
        self, client: socket.socket, upstream: socket.socket, silenced: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                if self.armed.is_set() and _COMMIT in chunk:
                    self.armed.clear()
                    silenced.set()
                    upstream.sendall(chunk)
                    time.sleep(0.3)  # the server commits; its answer goes nowhere
                    for sock in (client, upstream):
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                    self.cut.set()
                    return
                upstream.sendall(chunk)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    @staticmethod
    def _to_client(
        upstream: socket.socket, client: socket.socket, silenced: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while chunk := upstream.recv(65536):
                if not silenced.is_set():
                    client.sendall(chunk)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)


class SilentTcpServer(TcpForwarder):
    """Accepts connections on 127.0.0.1:`port` and never answers: a service that hangs."""

    def __init__(self, port: int) -> None:
        super().__init__(port, ("", 0))

    def _serve(self, client: socket.socket) -> None:
        pass  # held open (and closed on exit), never read, never answered


class OkOnlyRedis(TcpForwarder):
    """Speaks Redis's protocol on 127.0.0.1:`port` but answers every command `+OK`: a Redis (or
    a proxy before one) whose answers are not what the client asked for."""

    def __init__(self, port: int) -> None:
        super().__init__(port, ("", 0))

    def _serve(self, client: socket.socket) -> None:
        threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    @staticmethod
    def _answer(client: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                buffer += chunk
                while (command_end := _end_of_resp_command(buffer)) is not None:
                    buffer = buffer[command_end:]
                    client.sendall(b"+OK\r\n")


def _end_of_resp_command(buffer: bytes) -> int | None:
    """Where the first whole command (`*<n>` then n `$<length>` strings) in `buffer` ends."""
    line_end = buffer.find(b"\r\n")
    if not buffer.startswith(b"*") or line_end < 0:
        return None
    position = line_end + 2
    for _ in range(int(buffer[1:line_end])):
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        position = line_end + 2 + int(buffer[position + 1 : line_end]) + 2
        if position > len(buffer):
            return None
    return position
