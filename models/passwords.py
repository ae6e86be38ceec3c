"""Hash, verify and judge passwords: argon2id off the event loop, and the
policy of SPEC.md section 2 (SECURITY-BASELINE A01-A03, A35).

The policy has no composition rules. A password is long enough (15
characters, or 8 where two-factor sign-in is on or required), at most 256
characters in any script, and not guessable: not on the list of commonly used
passwords, not made of the school's, the person's or the product's name, and
not a pattern an attacker tries early (repeats, keyboard rows, sequences).

The list and the pattern check come from zxcvbn (MIT, maintained on PyPI),
which ships the 30,000 most common passwords of a public corpus of leaked
passwords, beside word lists and the pattern matchers; Django's own list
(BSD, 19,640 entries) would mean installing Django for one file.
"""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, t=3,
# 64 MiB, p=4), which the security baseline accepts.
_hasher = PasswordHasher()

# Hashing runs off the event loop, in threads of its own and at most one
# fewer than the cores at once: twenty sign-ins at the same moment queue here
# instead of starving the loop that serves every other page (A35).
_HASH_THREADS = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="argon2"
)

# Verified when the account is unknown, so that a wrong e-mail address costs
# the same time as a wrong password and timing reveals nothing.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")

MIN_LENGTH = 15  # an account signed in with the password alone (NIST 800-63B-4)
MIN_LENGTH_WITH_2FA = 8  # an account that also needs a code
MAX_LENGTH = 256  # project choice: bounds the hashing cost of one request
PRODUCT_NAME = "inzage"
# zxcvbn's estimate below which a password is refused as easy to guess: ten
# million guesses, a few days of a slow online attack (project choice).
MIN_GUESSES_LOG10 = 7
# zxcvbn refuses longer input; a longer password is judged by its start.
_ZXCVBN_MAX = 72
# Parts of a name shorter than this are too common inside words to refuse.
_MIN_CONTEXT_PART = 4


def lazy(message: str) -> str:
    """Mark a string for translation; the web layer translates it."""
    return message


TOO_SHORT = lazy("The password is too short: use at least %(min)s characters.")
TOO_LONG = lazy("The password is too long: use at most %(max)s characters.")
COMMON = lazy(
    "This password is on the list of commonly used passwords. Choose another one."
)
GUESSABLE = lazy(
    "This password is easy to guess: it repeats itself, follows the keyboard or"
    " a sequence, or is made of very common words. Choose another one."
)
PERSONAL = lazy(
    "The password contains the name of the school, your own name or e-mail"
    " address, or the name of this portal. Choose another one."
)


@dataclass(frozen=True)
class PasswordProblem:
    """Why a password was refused: a message to translate and its values."""

    message: str
    values: dict = field(default_factory=dict)


def normalise(password: str) -> str:
    """Return the password in NFKC form, so every way of typing it matches."""
    return unicodedata.normalize("NFKC", password)


def min_length(two_factor: bool) -> int:
    return MIN_LENGTH_WITH_2FA if two_factor else MIN_LENGTH


def two_factor_applies(person, school) -> bool:
    """True when the person has, or must set up, two-factor sign-in."""
    return bool(
        school.require_2fa
        or person.require_2fa
        or person.staff_role
        or person.totp_enabled
    )


def context_words(person, school) -> list[str]:
    """The words a password must not be built from, for one person."""
    local_part = (person.email or "").split("@")[0]
    return [
        school.name,
        school.code,
        person.given_name,
        person.family_name,
        local_part,
        PRODUCT_NAME,
    ]


def _folded(text: str) -> str:
    """Lower case, letters and digits only: "De Regen-boog" -> "deregenboog"."""
    return "".join(ch for ch in normalise(text).casefold() if ch.isalnum())


def _context_parts(words: Iterable[str]) -> set[str]:
    parts: set[str] = set()
    for word in words:
        if not word:
            continue
        whole = _folded(word)
        if len(whole) >= _MIN_CONTEXT_PART:
            parts.add(whole)
        for piece in re.split(r"[\W_]+", normalise(word).casefold()):
            piece = _folded(piece)
            if len(piece) >= _MIN_CONTEXT_PART and not piece.isdigit():
                parts.add(piece)
    return parts


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(
    password: str, *, two_factor: bool, context: Iterable[str] = ()
) -> PasswordProblem | None:
    """Return why a new password is refused, or None when it is accepted."""
    password = normalise(password)
    # Every code point counts as one character (NIST 800-63B 5.1.1.2).
    shortest = min_length(two_factor)
    if len(password) < shortest:
        return PasswordProblem(TOO_SHORT, {"min": shortest})
    if len(password) > MAX_LENGTH:
        return PasswordProblem(TOO_LONG, {"max": MAX_LENGTH})

    folded = password.casefold()
    if folded in _common_passwords() or folded.strip() in _common_passwords():
        return PasswordProblem(COMMON)
    compact = _folded(password)
    if any(part in compact for part in _context_parts(context)):
        return PasswordProblem(PERSONAL)

    from zxcvbn import zxcvbn

    estimate = zxcvbn(password[:_ZXCVBN_MAX])
    if estimate["guesses_log10"] < MIN_GUESSES_LOG10:
        return PasswordProblem(GUESSABLE)
    return None


# ---------------------------------------------------------------- hashing


def hash_password(password: str) -> str:
    return _hasher.hash(normalise(password))


async def hash_password_async(password: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASH_THREADS, hash_password, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, normalise(password)) and (
            stored_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash; a missing hash costs the same."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASH_THREADS, _verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True
