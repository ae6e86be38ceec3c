"""Throttling of sign-in, code and reset attempts (SECURITY-BASELINE A05, A10,
A34, b1).

Two kinds of counter, each under a key (an account, or a client address):

- a failure ladder: after ``FREE_FAILURES`` consecutive failures every attempt
  waits a growing delay; a success clears it (``record_failure``, ``clear``);
- a window: at most N events per period (``hit``).

Counters live in Redis when ``INZAGE_REDIS_URL`` is set, so that every web
process sees the same counts, and in the ``throttle`` table otherwise. When
Redis cannot be reached the table takes over, with one warning: the limiter
never fails open. When neither store answers, ``ThrottleUnavailable`` is
raised and the sign-in and forgot-password pages answer 503.

Accounts are keyed by school code and e-mail address, hashed, whether or not
the account exists: an unknown address is throttled exactly like a known one,
so the delays tell nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.exceptions import BaseORMException, IntegrityError

from models.entities import Throttle

logger = logging.getLogger(__name__)
security_log = logging.getLogger("inzage.security")

FREE_FAILURES = 5
LOGIN_BASE_DELAY_S = 30
LOGIN_MAX_DELAY_S = 15 * 60
# At this many consecutive failures the account stays locked until a
# password is set through the e-mail link (NIST 800-63B 5.2.2: at most 100).
HARD_LOCK_FAILURES = 100
HARD_LOCK_S = 365 * 24 * 3600
# A failure streak is forgotten after this long without failures.
FAILURE_MEMORY_S = 24 * 3600

LOGIN_PER_ADDRESS = (20, 60)  # POST /login: 20 a minute per client address
FORGOT_PER_ADDRESS = (20, 60)
RESET_EMAILS_PER_ACCOUNT = (3, 3600)  # A34: three e-mails an hour

_KEY_PREFIX = "inzage:throttle:"


class ThrottleUnavailable(RuntimeError):
    """Neither Redis nor the database could count; refuse rather than allow."""


def login_delay_s(failures: int) -> float:
    """30 s x 2^(n-5) from the fifth failure, at most 15 minutes; locked at 100."""
    if failures >= HARD_LOCK_FAILURES:
        return HARD_LOCK_S
    if failures < FREE_FAILURES:
        return 0
    return min(LOGIN_BASE_DELAY_S * 2 ** (failures - FREE_FAILURES), LOGIN_MAX_DELAY_S)


def code_delay_s(failures: int) -> float:
    """1, 2, 4, 8 ... seconds from the first wrong code (django-otp)."""
    if failures <= 0:
        return 0
    return min(2 ** (failures - 1), LOGIN_MAX_DELAY_S)


def account_key(scope: str, school_code: str, email: str) -> str:
    """Key an account by what was typed, so unknown accounts count the same."""
    typed = f"{school_code.strip().upper()}\n{email.strip().lower()}"
    return f"{scope}:acct:{hashlib.sha256(typed.encode()).hexdigest()[:32]}"


def address_key(scope: str, address: str | None) -> str:
    return f"{scope}:addr:{address or 'unknown'}"


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- stores


class _DatabaseStore:
    """The throttle table: failures and a block time, or a window count."""

    async def _row(self, key: str) -> Throttle:
        row = await Throttle.filter(key=key).first()
        if row is None:
            try:
                row = await Throttle.create(key=key, updated_at=_as_datetime(_now()))
            except IntegrityError:
                row = await Throttle.get(key=key)
        return row

    async def blocked_for(self, key: str) -> float:
        row = await Throttle.filter(key=key).first()
        if row is None or row.blocked_until is None:
            return 0
        return max(0.0, row.blocked_until.timestamp() - _now())

    async def failure(
        self, key: str, delay: Callable[[int], float]
    ) -> tuple[int, float]:
        row = await self._row(key)
        now = _now()
        failures = row.failures
        if now - row.updated_at.timestamp() > FAILURE_MEMORY_S:
            failures = 0
        failures += 1
        wait = delay(failures)
        await Throttle.filter(id=row.id).update(
            failures=failures,
            blocked_until=_as_datetime(now + wait) if wait else None,
            updated_at=_as_datetime(now),
        )
        return failures, wait

    async def clear(self, key: str) -> None:
        await Throttle.filter(key=key).delete()

    async def hit(self, key: str, limit: int, period_s: int) -> bool:
        row = await self._row(key)
        now = _now()
        # updated_at marks the window's start; failures counts its events.
        if now - row.updated_at.timestamp() >= period_s or row.failures == 0:
            await Throttle.filter(id=row.id).update(
                failures=1, updated_at=_as_datetime(now)
            )
            return True
        count = row.failures + 1
        await Throttle.filter(id=row.id).update(failures=count)
        return count <= limit


class _RedisStore:
    """The same counters in Redis; times are Unix seconds in a hash."""

    def __init__(self, url: str):
        self.redis = Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=1, retry_on_timeout=False
        )

    async def blocked_for(self, key: str) -> float:
        until = await self.redis.hget(_KEY_PREFIX + key, "until")
        return max(0.0, float(until) - _now()) if until else 0

    async def failure(
        self, key: str, delay: Callable[[int], float]
    ) -> tuple[int, float]:
        name = _KEY_PREFIX + key
        now = _now()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(name, "failures", 1)
            pipe.expire(name, FAILURE_MEMORY_S)
            failures, _ = await pipe.execute()
        wait = delay(int(failures))
        if wait:
            await self.redis.hset(name, "until", now + wait)
            await self.redis.expire(name, max(FAILURE_MEMORY_S, int(wait) + 60))
        return int(failures), wait

    async def clear(self, key: str) -> None:
        await self.redis.delete(_KEY_PREFIX + key)

    async def hit(self, key: str, limit: int, period_s: int) -> bool:
        # A fixed window per period; the key's start is in its name.
        window = int(_now() // period_s)
        name = f"{_KEY_PREFIX}{key}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, period_s + 5)
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def close(self) -> None:
        await self.redis.aclose()


def _as_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ---------------------------------------------------------------- limiter


class Limiter:
    """Count attempts in Redis, falling back to the database, never open."""

    def __init__(self, redis_url: str | None = None):
        self.database = _DatabaseStore()
        self.redis = _RedisStore(redis_url) if redis_url else None

    async def _call(self, method: str, *args):
        if self.redis is not None:
            try:
                return await getattr(self.redis, method)(*args)
            except (RedisError, OSError, TimeoutError) as error:
                logger.warning(
                    "throttle store Redis unavailable (%s), counting in the database",
                    type(error).__name__,
                )
        try:
            return await getattr(self.database, method)(*args)
        except BaseORMException as error:
            raise ThrottleUnavailable("no store answers") from error

    async def blocked_for(self, key: str) -> float:
        """Return the seconds this key must still wait; 0 when it may try."""
        return await self._call("blocked_for", key)

    async def record_failure(
        self, key: str, delay: Callable[[int], float] = login_delay_s
    ) -> tuple[int, float]:
        """Count a failure; return the streak and the wait it now imposes."""
        failures, wait = await self._call("failure", key, delay)
        if wait:
            security_log.info(
                "throttled key=%s failures=%s wait_s=%d", key, failures, wait
            )
        return failures, wait

    async def clear(self, key: str) -> None:
        """Forget a key's failures (a success, or a password set by e-mail)."""
        await self._call("clear", key)

    async def hit(self, key: str, limit: int, period_s: int) -> bool:
        """Count one event; False when the key is over its limit this period."""
        allowed = await self._call("hit", key, limit, period_s)
        if not allowed:
            security_log.info("throttled key=%s limit=%s/%ss", key, limit, period_s)
        return allowed

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
