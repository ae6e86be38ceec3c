"""Throttling: the delay ladder, windows, and the two stores
(SECURITY-BASELINE A05, A10, A34, b1)."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
import time_machine

from models.access import utcnow
from models.entities import Throttle
from models.throttle import (
    HARD_LOCK_S,
    Limiter,
    ThrottleUnavailable,
    account_key,
    code_delay_s,
    login_delay_s,
)

REDIS_TEST_URL = os.environ.get("INZAGE_REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def test_the_sign_in_ladder_of_the_baseline():
    assert [login_delay_s(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert login_delay_s(5) == 30
    assert login_delay_s(6) == 60
    assert login_delay_s(9) == 480
    assert login_delay_s(10) == 900  # capped at 15 minutes
    assert login_delay_s(99) == 900
    assert login_delay_s(100) == HARD_LOCK_S


def test_the_code_ladder_doubles_from_one_second():
    assert [code_delay_s(n) for n in range(0, 6)] == [0, 1, 2, 4, 8, 16]


def test_account_keys_ignore_case_and_spaces_and_hold_no_address():
    key = account_key("login", " demo ", " Sam@Example.TEST ")

    assert key == account_key("login", "DEMO", "sam@example.test")
    assert "sam" not in key and "example" not in key


async def redis_limiter():
    limiter = Limiter(REDIS_TEST_URL)
    try:
        await limiter.redis.redis.flushdb()
    except Exception as error:  # noqa: BLE001 - any failure means "not here"
        await limiter.close()
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}: {error}")
    return limiter


@pytest.fixture(params=["database", "redis"])
async def limiter(request, database):
    if request.param == "database":
        yield Limiter()
        return
    limiter = await redis_limiter()
    yield limiter
    await limiter.redis.redis.flushdb()
    await limiter.close()


async def test_five_failures_then_a_delay_that_grows(limiter):
    key = account_key("login", "DEMO", "sam@example.test")
    for _ in range(4):
        await limiter.record_failure(key)
    assert await limiter.blocked_for(key) == 0

    _, wait = await limiter.record_failure(key)

    assert wait == 30
    assert 25 < await limiter.blocked_for(key) <= 30
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
        assert await limiter.blocked_for(key) == 0
        _, wait = await limiter.record_failure(key)
        assert wait == 60


async def test_a_success_clears_the_account(limiter):
    key = account_key("login", "DEMO", "sam@example.test")
    for _ in range(6):
        await limiter.record_failure(key)

    await limiter.clear(key)

    assert await limiter.blocked_for(key) == 0
    failures, _ = await limiter.record_failure(key)
    assert failures == 1


async def test_a_window_allows_its_limit_per_period(limiter):
    allowed = [await limiter.hit("reset:acct:x", 3, 3600) for _ in range(5)]

    assert allowed == [True, True, True, False, False]
    with time_machine.travel(utcnow() + timedelta(seconds=3601), tick=False):
        assert await limiter.hit("reset:acct:x", 3, 3600)


async def test_redis_down_falls_back_to_the_database_never_open(database, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limiter = Limiter(f"redis://127.0.0.1:{port}/0")
    key = account_key("login", "DEMO", "sam@example.test")

    for _ in range(5):
        await limiter.record_failure(key)

    assert await limiter.blocked_for(key) > 0
    assert await Throttle.filter(key=key).exists()
    assert "counting in the database" in caplog.text
    await limiter.close()


async def test_no_store_at_all_refuses(database, monkeypatch):
    from tortoise.exceptions import OperationalError

    limiter = Limiter()

    async def broken(*args, **kwargs):
        raise OperationalError("database down")

    monkeypatch.setattr(limiter.database, "blocked_for", broken)

    with pytest.raises(ThrottleUnavailable):
        await limiter.blocked_for("login:acct:x")
