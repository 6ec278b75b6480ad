"""Rate limits per key per minute by plan, with headers on every authenticated response."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from billabled.app import create_app
from billabled.config import Settings
from billabled.models.workspace import Plan
from billabled.ratelimit import SHARED_RETRY_SECONDS
from tests.conftest import TEST_SECRET_KEY
from tests.factories import Factory, Key
from tests.support import (
    BILLABLED,
    OkOnlyRedis,
    SilentTcpServer,
    TcpForwarder,
    free_port,
    redis_test_url,
)


def test_headers_count_down_and_the_first_request_over_the_limit_is_429(
    client: TestClient, factory: Factory
) -> None:
    workspace = factory.workspace(plan=Plan.FREE)  # 120 a minute
    key = factory.key(workspace)
    remaining = []
    for _ in range(120):
        response = client.get("/api/v1/me", headers=key.headers)
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "120"
        assert response.headers["ratelimit-policy"] == '"key";q=120;w=60'
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == list(range(119, -1, -1))

    over = client.get("/api/v1/me", headers=key.headers)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limited"
    retry_after = int(over.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert over.headers["ratelimit"].startswith('"key";r=0;t=')
    reset = int(over.headers["x-ratelimit-reset"])
    assert 0 < reset - time.time() <= 61


@pytest.mark.parametrize(
    ("plan", "limit"), [(Plan.STARTER, 120), (Plan.PROFESSIONAL, 300), (Plan.BUSINESS, 1000)]
)
def test_the_limit_follows_the_plan(
    client: TestClient, factory: Factory, plan: Plan, limit: int
) -> None:
    key = factory.key(factory.workspace(plan=plan))
    response = client.get("/api/v1/me", headers=key.headers)
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.json()["rateLimit"]["limit"] == limit
    assert response.json()["rateLimit"]["remaining"] == limit - 1


def test_me_tells_the_same_reset_as_the_headers(client: TestClient, factory: Factory) -> None:
    """`/me` rounded the window's end to the nearest second and the header rounded it up: they
    disagreed by a second for about half of all windows (a helper's docs audit). Ten fresh keys
    open ten windows, each ending at its own fraction of a second."""
    workspace = factory.workspace()
    for n in range(10):
        key = factory.key(workspace, name=f"reset {n}")
        response = client.get("/api/v1/me", headers=key.headers)
        reset_at = datetime.fromisoformat(response.json()["rateLimit"]["resetAt"])
        assert reset_at.timestamp() == int(response.headers["x-ratelimit-reset"])


def test_two_keys_are_limited_independently(client: TestClient, factory: Factory) -> None:
    workspace = factory.workspace(plan=Plan.FREE)
    first, second = factory.key(workspace), factory.key(workspace, name="second")
    for _ in range(120):
        client.get("/api/v1/me", headers=first.headers)
    assert client.get("/api/v1/me", headers=first.headers).status_code == 429
    response = client.get("/api/v1/me", headers=second.headers)
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining"] == "119"


@pytest.fixture
def strict_ip_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"unauthenticated_rate_limit_per_minute": 5}))
    # A client address of its own: the per-IP bucket may live in a shared Redis.
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"
    with TestClient(app, raise_server_exceptions=False, client=(address, 50000)) as client:
        yield client


def test_requests_without_a_valid_key_are_limited_per_ip_not_per_key(
    strict_ip_client: TestClient, factory: Factory
) -> None:
    key = factory.key(factory.workspace(plan=Plan.FREE))
    for attempt in range(5):
        response = strict_ip_client.get("/api/v1/me", headers={"X-Api-Key": "blb_nope"})
        assert response.status_code == 401
        assert response.headers["ratelimit-policy"] == '"ip";q=5;w=60'
        assert response.headers["x-ratelimit-remaining"] == str(4 - attempt)
    blocked = strict_ip_client.get("/api/v1/me")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    # The key's own budget was never touched.
    good = strict_ip_client.get("/api/v1/me", headers=key.headers)
    assert good.status_code == 200
    assert good.headers["x-ratelimit-remaining"] == "119"


def _serve(
    settings: Settings, port: int, redis_url: str, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BILLABLED_DATA_DIR": str(settings.data_dir),
        "BILLABLED_DATABASE_URL": settings.resolved_database_url,
        "BILLABLED_SECRET_KEY": TEST_SECRET_KEY,
        "BILLABLED_REDIS_URL": redis_url,
        "BILLABLED_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [BILLABLED, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{base} did not start"
            time.sleep(0.1)


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_two_server_processes_sharing_redis_never_accept_more_than_the_limit(
    settings: Settings, factory: Factory
) -> None:
    redis_url = redis_test_url()
    assert redis_url is not None
    key = factory.key(factory.workspace(plan=Plan.FREE))
    ports = [free_port(), free_port()]
    servers = [_serve(settings, port, redis_url) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _wait_until_up(base)
        statuses: list[int] = []
        lock = threading.Lock()

        def hammer(base: str) -> None:
            with httpx.Client(base_url=base, headers=key.headers, timeout=30) as http:
                for _ in range(100):
                    status = http.get("/api/v1/me").status_code
                    with lock:
                        statuses.append(status)

        threads = [
            threading.Thread(target=hammer, args=(base,)) for base in bases for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)
    assert len(statuses) == 400
    assert statuses.count(200) == 120  # one window, one budget, across both processes
    assert statuses.count(429) == 280


def test_memory_storage_is_used_without_redis(tmp_path: Path) -> None:
    from billabled.ratelimit import RateLimiter

    limiter = RateLimiter.from_url(None)
    assert type(limiter.storage).__name__ == "MemoryCounts"


def _events(log: Path) -> list[str]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["event"] for line in lines]


@contextlib.contextmanager
def _served_on(settings: Settings, redis_url: str, key: Key, log: Path) -> Iterator[httpx.Client]:
    """`billabled serve` counting in `redis_url`, its log in `log`, and a client with `key`."""
    port = free_port()
    with log.open("wb") as log_file:
        server = _serve(settings, port, redis_url, log_file)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        with httpx.Client(base_url=base, headers=key.headers, timeout=30) as http:
            yield http
    finally:
        server.terminate()
        server.wait(timeout=15)


def _remaining(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    return int(response.headers["x-ratelimit-remaining"])


def test_the_api_keeps_answering_with_per_process_limits_while_redis_is_unreachable(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    key = factory.key(factory.workspace(plan=Plan.FREE))
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    log = tmp_path / "serve.log"
    with _served_on(settings, nothing_listens, key, log) as http:
        remaining = [_remaining(http.get("/api/v1/me")) for _ in range(120)]
        over = http.get("/api/v1/me")
        ready = http.get("/readyz")
    assert remaining == list(range(119, -1, -1))  # counted, in this process
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limited"
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "rateLimits": "per-process"}
    assert _events(log).count("rate_limit_storage_unreachable") == 1


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_limits_are_shared_again_once_redis_is_back(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    redis = urlsplit(redis_test_url() or "")
    assert redis.hostname is not None
    assert redis.port is not None
    forwarder_port = free_port()
    through_forwarder = f"redis://127.0.0.1:{forwarder_port}{redis.path}"
    key = factory.key(factory.workspace(plan=Plan.FREE))
    log = tmp_path / "serve.log"

    def until_counted_in_redis(http: httpx.Client) -> list[int]:
        """Requests until one is counted in Redis, which has never seen this key (119 left)."""
        remaining = [_remaining(http.get("/api/v1/me"))]
        deadline = time.monotonic() + 10
        while remaining[-1] != 119 and time.monotonic() < deadline:
            time.sleep(0.05)
            remaining.append(_remaining(http.get("/api/v1/me")))
        return remaining

    with _served_on(settings, through_forwarder, key, log) as http:
        while_down = [_remaining(http.get("/api/v1/me")) for _ in range(3)]
        ready_while_down = http.get("/readyz").json()
        # A retry while Redis is still away fails in the background and is tried again later.
        time.sleep(SHARED_RETRY_SECONDS + 0.5)
        still_down = [_remaining(http.get("/api/v1/me")) for _ in range(2)]
        with TcpForwarder(forwarder_port, (redis.hostname, redis.port)):
            time.sleep(SHARED_RETRY_SECONDS + 0.5)
            # The first request after the retry time sets off a trial increment in the
            # background and is itself counted locally; once it succeeds, Redis counts again.
            when_back = until_counted_in_redis(http)
            after_that = _remaining(http.get("/api/v1/me"))
            ready_when_back = http.get("/readyz").json()
    assert while_down == [119, 118, 117]
    assert ready_while_down["rateLimits"] == "per-process"
    assert still_down == [116, 115]
    assert when_back[0] == 114
    assert when_back[-1] == 119
    assert after_that == 118
    assert ready_when_back["rateLimits"] == "shared"
    events = _events(log)
    assert events.count("rate_limit_storage_unreachable") == 1
    assert events.count("rate_limit_storage_reachable_again") == 1


def test_a_redis_that_hangs_holds_up_a_request_for_a_second_at_most(
    settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    key = factory.key(factory.workspace(plan=Plan.FREE))
    with SilentTcpServer(free_port()) as silent:
        hangs = f"redis://127.0.0.1:{silent.port}/0"
        with _served_on(settings, hangs, key, tmp_path / "serve.log") as http:
            started = time.monotonic()
            first = http.get("/api/v1/me")
            first_waited = time.monotonic() - started
            started = time.monotonic()
            then = [_remaining(http.get("/api/v1/me")) for _ in range(3)]
            then_waited = time.monotonic() - started
            ready = http.get("/readyz")
    # redis-py alone waits 5 s for an answer; ours gives up after REDIS_TIMEOUT_SECONDS (1 s)
    # and counts in the process from then on, without trying Redis on the request path.
    assert _remaining(first) == 119
    assert first_waited < 3
    assert then == [118, 117, 116]
    assert then_waited < 1
    assert ready.json() == {"status": "ready", "rateLimits": "per-process"}


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_burst_beyond_redis_pys_default_pool_is_still_counted_in_redis() -> None:
    from billabled.ratelimit import RateLimiter

    bucket = f"key:burst-{uuid.uuid4().hex}"
    in_flight = 300  # redis-py's pool holds 100 connections unless told otherwise

    async def burst() -> tuple[list[int], str]:
        limiter = RateLimiter.from_url(redis_test_url())
        try:
            windows = await asyncio.gather(*(limiter.count(bucket) for _ in range(in_flight)))
            return sorted(window.count for window in windows), limiter.counting
        finally:
            await limiter.close()

    counts, counting = asyncio.run(burst())
    # Every count reached Redis: with the default pool the 101st raised MaxConnectionsError, and
    # the limiter took that for an outage.
    assert counts == list(range(1, in_flight + 1))
    assert counting == "shared"


def _redis_clients_named(name: str) -> int:
    """How many connections Redis holds open under the client name `name`."""
    import redis

    url = redis_test_url()
    assert url is not None
    with redis.Redis.from_url(url) as admin:
        clients: list[dict[str, str]] = admin.client_list()
    return sum(1 for client in clients if client.get("name") == name)


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_counts_asked_for_together_reach_redis_together() -> None:
    from billabled.ratelimit import RateLimiter

    name = f"billabled-test-{uuid.uuid4().hex[:12]}"
    url = redis_test_url()
    assert url is not None
    buckets = [f"key:together-{uuid.uuid4().hex}" for _ in range(4)]

    async def burst() -> tuple[list[int], int, str]:
        limiter = RateLimiter.from_url(f"{url}?client_name={name}")
        try:
            windows = await asyncio.gather(
                *(limiter.count(bucket) for bucket in buckets for _ in range(50))
            )
            return (
                [window.count for window in windows],
                _redis_clients_named(name),
                limiter.counting,
            )
        finally:
            await limiter.close()

    counts, connections, counting = asyncio.run(burst())
    # Each bucket counted 1..50 in Redis, all 200 increments over one connection: one pipeline
    # (one connection for each in flight, i.e. 200, when every count was its own command).
    assert sorted(counts) == sorted(list(range(1, 51)) * 4)
    assert connections == 1
    assert counting == "shared"


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_count_redis_refuses_does_not_void_the_others_sent_with_it() -> None:
    import redis

    from billabled.ratelimit import RateLimiter

    url = redis_test_url()
    assert url is not None
    broken, sound = (f"key:{kind}-{uuid.uuid4().hex}" for kind in ("broken", "sound"))
    with redis.Redis.from_url(url) as admin:
        # Not a number: Redis answers INCRBY on this key with an error.
        admin.set(f"LIMITS:billabled/{broken}/1/1/minute", "not-a-count", ex=60)

    async def together() -> tuple[int, int, str]:
        limiter = RateLimiter.from_url(url)
        try:
            first, second = await asyncio.gather(limiter.count(broken), limiter.count(sound))
            return first.count, second.count, limiter.counting
        finally:
            await limiter.close()

    broken_count, sound_count, counting = asyncio.run(together())
    with redis.Redis.from_url(url) as admin:
        stored = admin.get(f"LIMITS:billabled/{sound}/1/1/minute")
    assert sound_count == 1
    assert stored == b"1"  # counted in Redis, in the same pipeline as the refused one
    assert broken_count == 1  # counted in this process instead
    assert counting == "per-process"  # and the limiter no longer trusts Redis, for a while


def test_an_answer_from_redis_that_is_not_a_count_leaves_no_request_waiting() -> None:
    from billabled.ratelimit import RateLimiter

    port = free_port()

    async def together() -> tuple[list[int], str]:
        limiter = RateLimiter.from_url(f"redis://127.0.0.1:{port}/0")
        try:
            windows = await asyncio.wait_for(
                asyncio.gather(limiter.count("key:first"), limiter.count("key:second")), 5
            )
            return [window.count for window in windows], limiter.counting
        finally:
            await limiter.close()

    with OkOnlyRedis(port):
        counts, counting = asyncio.run(together())
    assert counts == [1, 1]  # counted in this process instead
    assert counting == "per-process"


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_closing_the_limiter_sends_the_counts_still_queued_and_waits_for_them() -> None:
    from billabled.ratelimit import RateLimiter

    bucket = f"key:closing-{uuid.uuid4().hex}"

    async def close_while_queued() -> tuple[bool, int]:
        limiter = RateLimiter.from_url(redis_test_url())
        counting = asyncio.ensure_future(limiter.count(bucket))
        await asyncio.sleep(0)  # the count is queued for this turn's batch, not sent yet
        await limiter.close()
        finished = counting.done()
        return finished, (await counting).count

    finished, count = asyncio.run(close_while_queued())
    assert finished  # not sent after the pool had closed, on a connection nobody closes
    assert count == 1


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_count_taken_by_redis_is_not_counted_again_when_its_window_end_cannot_be_read() -> None:
    import redis

    from billabled.ratelimit import WINDOW_SECONDS, RateLimiter

    url = urlsplit(redis_test_url() or "")
    user, password = f"billabled-test-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    # A Redis user that may count (the increment script) but not read a key's time to live.
    cannot_read_ttl = url._replace(netloc=f"{user}:{password}@{url.hostname}:{url.port}").geturl()
    bucket = f"key:no-ttl-{uuid.uuid4().hex}"
    with redis.Redis.from_url(url.geturl()) as admin:
        admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                          commands=["+@all", "-ttl"])  # fmt: skip
        # Another instance opened this window: this process has never seen its end.
        admin.set(f"LIMITS:billabled/{bucket}/1/1/minute", 1, ex=WINDOW_SECONDS)

    async def count_twice() -> tuple[list[tuple[int, float]], str]:
        limiter = RateLimiter.from_url(cannot_read_ttl)
        try:
            windows = [await limiter.count(bucket) for _ in range(2)]
            return [(window.count, window.reset_at) for window in windows], limiter.counting
        finally:
            await limiter.close()

    try:
        before = time.time()
        counted, counting = asyncio.run(count_twice())
        with redis.Redis.from_url(url.geturl()) as admin:
            stored = admin.get(f"LIMITS:billabled/{bucket}/1/1/minute")
    finally:
        with redis.Redis.from_url(url.geturl()) as admin:
            admin.acl_deluser(user)
    # Both requests were counted in Redis, once each (the first used to be counted again in the
    # process, where the second then found it), and counting stays shared: Redis answered.
    assert [count for count, _ in counted] == [2, 3]
    assert stored == b"3"
    assert counting == "shared"
    # The window's end is not known: it is at most one window away.
    for _, reset_at in counted:
        assert before < reset_at <= time.time() + WINDOW_SECONDS


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_key_that_is_nobodys_leaves_no_counter_in_redis(
    client: TestClient, settings: Settings
) -> None:
    """It is counted while it is looked up (the two overlap), so its counter is then deleted:
    made-up keys would each leave one in Redis for a minute."""
    import redis

    from billabled.kit.apikeys import derive_pepper, generate_key, hash_key

    made_up = generate_key()  # well formed, checksum and all
    response = client.get("/api/v1/me", headers={"X-Api-Key": made_up})

    assert response.status_code == 401
    assert response.headers["ratelimit-policy"].startswith('"ip"')
    key_hash = hash_key(derive_pepper(settings.resolved_secret_key), made_up)
    with redis.Redis.from_url(redis_test_url() or "") as admin:
        assert admin.exists(f"LIMITS:billabled/key:{key_hash[:32]}/1/1/minute") == 0


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_pooled_redis_connection_closed_by_redis_is_replaced_not_taken_for_an_outage() -> None:
    """A Redis restart, a failover or its idle `timeout` closes pooled connections: each was
    taken for an outage once, counting per process for 5 s, for a minute after (a helper's
    soak audit)."""
    import redis

    from billabled.ratelimit import RateLimiter

    url = redis_test_url()
    assert url is not None
    name = f"killed-{uuid.uuid4().hex[:12]}"
    bucket = f"key:killed-{uuid.uuid4().hex}"

    def kill_connections() -> int:
        with redis.Redis.from_url(url) as admin:
            clients: list[dict[str, str]] = admin.client_list()
            ids = [client["id"] for client in clients if client.get("name") == name]
            for client_id in ids:
                admin.client_kill_filter(_id=client_id)
        return len(ids)

    async def count_across_a_kill() -> tuple[list[int], str]:
        limiter = RateLimiter.from_url(f"{url}?client_name={name}")
        try:
            first = await asyncio.gather(*(limiter.count(bucket) for _ in range(5)))
            assert await asyncio.to_thread(kill_connections) >= 1
            then = await limiter.count(bucket)
            return [*(window.count for window in first), then.count], limiter.counting
        finally:
            await limiter.close()

    counts, counting = asyncio.run(count_across_a_kill())
    assert sorted(counts) == [1, 2, 3, 4, 5, 6]
    assert counting == "shared"


@pytest.mark.skipif(
    redis_test_url() is None, reason="needs BILLABLED_TEST_REDIS_URL (CI's second pass)"
)
def test_a_window_opened_by_another_process_ends_no_earlier_than_redis_says() -> None:
    """A process that had not opened the window read its end with TTL, whole seconds rounded:
    `X-RateLimit-Reset` could fall before the window's end, and a client that waited until
    then was refused again (a helper's multi-process audit)."""
    import redis

    from billabled.ratelimit import RateLimiter

    url = redis_test_url()
    assert url is not None
    bucket = f"key:reset-{uuid.uuid4().hex}"

    async def count_in_two_processes(admin: redis.Redis) -> tuple[float, float]:
        opener, other = RateLimiter.from_url(url), RateLimiter.from_url(url)
        try:
            await opener.count(bucket)
            (stored,) = admin.keys(f"*{bucket}*")
            admin.pexpire(stored, 59_400)  # the window ends 59.4 s from now
            window = await other.count(bucket)
            return window.reset_at, admin.pexpiretime(stored) / 1000
        finally:
            await opener.close()
            await other.close()

    with redis.Redis.from_url(url) as admin:
        reported, ends = asyncio.run(count_in_two_processes(admin))
    assert reported >= ends - 0.01
