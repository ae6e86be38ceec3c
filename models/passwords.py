"""Hash and verify passwords with argon2id, off the event loop."""

from __future__ import annotations

import asyncio
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3,
# 64 MiB, p=4), which the security baseline accepts.
_hasher = PasswordHasher()

# Verified when the account is unknown, so that a wrong e-mail address costs
# the same time as a wrong password and timing reveals nothing.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


def normalise(password: str) -> str:
    """Return the password in NFKC form, so every way of typing it matches."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher.hash(normalise(password))


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, normalise(password)) and (
            stored_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash; a missing hash costs the same."""
    return await asyncio.to_thread(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
