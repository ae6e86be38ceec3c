"""TOTP codes and recovery codes (SECURITY-BASELINE A07-A09, b3)."""

from __future__ import annotations

import asyncio
import base64
import re

import pyotp
import pytest

from models import totp
from models.access import utcnow
from models.entities import Person, RecoveryCode
from tests.factories import make_person, make_school

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # ASCII 12345678901234567890
# RFC 6238 appendix B, SHA-1, the last six digits (SECURITY-BASELINE b3).
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),  # past 2038 (RFC 6238 section 4.2)
]
SERVER_SECRET = "server-secret-for-tests-" + "y" * 32
NOW = 1_800_000_015  # 15 s into a step


def code(secret: str, step_offset: int = 0, now: int = NOW) -> str:
    return totp.code_at_step(secret, totp.step_at(now) + step_offset)


@pytest.mark.parametrize(("when", "expected"), RFC_VECTORS)
def test_rfc_6238_vectors_pass_through_verify(when, expected):
    assert totp.verify(RFC_SECRET, expected, None, when) == when // 30
    # The eight-digit values of the RFC, from the same code path.
    assert totp.code_at_step(RFC_SECRET, when // 30, digits=8).endswith(expected)


def test_one_step_of_drift_either_way_and_no_more():
    secret = totp.new_secret()
    step = totp.step_at(NOW)

    assert totp.verify(secret, code(secret, -1), None, NOW) == step - 1
    assert totp.verify(secret, code(secret, 0), None, NOW) == step
    assert totp.verify(secret, code(secret, 1), None, NOW) == step + 1
    assert totp.verify(secret, code(secret, -2), None, NOW) is None
    assert totp.verify(secret, code(secret, 2), None, NOW) is None


def test_a_step_at_or_before_the_last_accepted_one_is_refused():
    secret = totp.new_secret()
    step = totp.step_at(NOW)

    assert totp.verify(secret, code(secret), step, NOW) is None
    assert totp.verify(secret, code(secret, -1), step, NOW) is None
    assert totp.verify(secret, code(secret, 1), step, NOW) == step + 1


def test_spaces_leading_zeros_and_full_width_digits():
    # 1234567890 gives 005924: a leading zero, kept as a string.
    assert totp.verify(RFC_SECRET, "005 924", None, 1234567890) == 1234567890 // 30
    assert totp.verify(RFC_SECRET, " 005924 ", None, 1234567890) is not None
    assert totp.verify(RFC_SECRET, "5924", None, 1234567890) is None
    # NFKC makes full-width digits ASCII: the same code, the same step.
    full_width = "００５９２４"
    assert totp.verify(RFC_SECRET, full_width, None, 1234567890) == 1234567890 // 30
    # ...so after 005924 was accepted, its full-width twin is refused too.
    assert totp.verify(RFC_SECRET, full_width, 1234567890 // 30, 1234567890) is None
    # Digits of other scripts stay digits of other scripts: refused.
    assert totp.normalise_code("٠٠٥٩٢٤") is None
    assert totp.normalise_code("00592a") is None
    assert totp.normalise_code("0059245") is None


def test_a_new_secret_is_160_random_bits():
    secrets = {totp.new_secret() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 32
        assert len(base64.b32decode(secret)) == 20


def test_the_secret_is_encrypted_and_bound_to_the_person():
    secret = totp.new_secret()

    stored = totp.encrypt_secret(secret, SERVER_SECRET, 7)

    assert secret not in stored and len(stored) <= 255
    assert totp.encrypt_secret(secret, SERVER_SECRET, 7) != stored  # fresh nonce
    assert totp.decrypt_secret(stored, SERVER_SECRET, 7) == secret
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(stored, SERVER_SECRET, 8)
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(stored, "another-server-secret-" + "z" * 32, 7)
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(secret, SERVER_SECRET, 7)


def test_key_in_groups_of_four_and_the_provisioning_address():
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

    uri = totp.provisioning_uri(secret, "a@example.test", "Inzage (De School)")

    assert totp.grouped(secret) == "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.issuer == "Inzage (De School)"
    assert parsed.digits == 6 and parsed.interval == 30


async def test_a_step_is_accepted_once(database):
    person = await make_person(await make_school())

    assert await totp.accept_step(person.id, 100)
    assert not await totp.accept_step(person.id, 100)
    assert not await totp.accept_step(person.id, 99)
    assert await totp.accept_step(person.id, 101)
    assert (await Person.get(id=person.id)).totp_last_step == 101


async def test_racing_accepts_of_one_step_let_exactly_one_through(database):
    person = await make_person(await make_school())

    results = await asyncio.gather(
        *(totp.accept_step(person.id, 500) for _ in range(8))
    )

    assert sorted(results) == [False] * 7 + [True]


async def test_recovery_codes_work_once_and_are_stored_hashed(database):
    person = await make_person(await make_school())

    codes = await totp.replace_recovery_codes(person.id)

    assert len(codes) == len(set(codes)) == 10
    pattern = re.compile(r"[A-Z2-7]{6}(-[A-Z2-7]{6}){3}")
    assert all(pattern.fullmatch(c) for c in codes)
    stored = await RecoveryCode.filter(person_id=person.id).values_list(
        "code_hash", flat=True
    )
    plain = {c.replace("-", "") for c in codes} | set(codes)
    assert len(stored) == 10 and not set(stored) & plain
    now = utcnow()
    # Typed in lower case with spaces: still the same code.
    typed = codes[0].lower().replace("-", " ")
    assert await totp.use_recovery_code(person.id, typed, now)
    assert not await totp.use_recovery_code(person.id, codes[0], now)
    assert not await totp.use_recovery_code(
        person.id, "AAAAAA-AAAAAA-AAAAAA-AAAAAA", now
    )
    assert await totp.recovery_codes_left(person.id) == 9

    # New codes replace the old ones.
    await totp.replace_recovery_codes(person.id)
    assert not await totp.use_recovery_code(person.id, codes[1], now)


async def test_racing_uses_of_one_recovery_code_let_exactly_one_through(database):
    person = await make_person(await make_school())
    codes = await totp.replace_recovery_codes(person.id)

    results = await asyncio.gather(
        *(totp.use_recovery_code(person.id, codes[3], utcnow()) for _ in range(5))
    )

    assert sorted(results) == [False] * 4 + [True]


def test_recovery_codes_carry_at_least_112_bits():
    code = totp.new_recovery_code()

    letters = code.replace("-", "")
    assert len(letters) * 5 >= 112
    assert totp.normalise_recovery_code(code) == letters
