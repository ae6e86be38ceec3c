"""Two-factor sign-in: TOTP secrets, codes and one-time recovery codes.

RFC 6238 with SHA-1, six digits, 30-second steps and one step of clock drift
either way (SECURITY-BASELINE b1). A secret is 160 random bits, stored
encrypted with a key derived from the server secret. A code is accepted once:
its time step must be later than the last step accepted for the person, and
the step is written with a compare-and-set so that two sign-ins racing with
the same code cannot both win.

The encryption key comes from the server secret (``INZAGE_SECRET_KEY``):
changing that secret makes every stored TOTP secret unreadable, and those
people then need an admin's "reset 2FA".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.expressions import Q

from models.entities import Person, RecoveryCode
from models.settings import Settings

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# Four groups of six base32 characters: 24 x 5 = 120 bits, above the 112
# bits that let a recovery code be stored as a plain SHA-256 (ASVS 6.5.2).
RECOVERY_GROUPS = 4
RECOVERY_GROUP_LENGTH = 6
BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

_CIPHER_VERSION = "v1"
_KEY_LABEL = b"inzage totp secret encryption v1"
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_RECOVERY = re.compile(rf"[A-Z2-7]{{{RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH}}}")


class SecretUnreadable(Exception):
    """The stored secret does not decrypt with this server secret."""


# ---------------------------------------------------------------- secrets


def new_secret() -> str:
    """Return a new base32 secret of 160 bits from the system's CSPRNG."""
    return pyotp.random_base32()


def _key(server_secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL
    ).derive(server_secret.encode())


def encrypt_secret(secret: str, server_secret: str, person_id: int) -> str:
    """Encrypt a base32 secret for the database (AES-256-GCM).

    The person's id is bound in as associated data, so a ciphertext copied to
    another person's row does not decrypt there.
    """
    nonce = os.urandom(12)
    sealed = AESGCM(_key(server_secret)).encrypt(
        nonce, secret.encode(), _associated(person_id)
    )
    return f"{_CIPHER_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(stored: str, server_secret: str, person_id: int) -> str:
    """Return the base32 secret from its stored form, or raise SecretUnreadable."""
    version, _, payload = stored.partition(":")
    if version != _CIPHER_VERSION:
        raise SecretUnreadable("unknown cipher version")
    try:
        raw = base64.urlsafe_b64decode(payload.encode())
        plain = AESGCM(_key(server_secret)).decrypt(
            raw[:12], raw[12:], _associated(person_id)
        )
    except (InvalidTag, ValueError) as error:
        raise SecretUnreadable("the secret does not decrypt") from error
    return plain.decode()


def _associated(person_id: int) -> bytes:
    return f"person:{person_id}".encode()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def grouped(secret: str) -> str:
    """Return the key in groups of four for typing it in by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# ---------------------------------------------------------------- codes


def normalise_code(code: str) -> str | None:
    """Return the six ASCII digits of a typed code, or None when it is not one.

    NFKC first, so full-width digits from a phone keyboard become ASCII; then
    spaces go, so the code pasted as the app shows it (``012 345``) works.
    Other digits (Arabic-Indic, Devanagari...) are refused. The result stays a
    string: a leading zero is part of the code.
    """
    text = unicodedata.normalize("NFKC", code or "")
    text = "".join(text.split())
    return text if _CODE.fullmatch(text) else None


def step_at(now: datetime | float) -> int:
    """Return the RFC 6238 time step for a moment (T0 = 0)."""
    seconds = now.timestamp() if isinstance(now, datetime) else now
    return int(seconds // STEP_S)


def code_at_step(secret: str, step: int, digits: int = DIGITS) -> str:
    return pyotp.TOTP(secret, digits=digits, interval=STEP_S).generate_otp(step)


def verify(
    secret: str, code: str, last_step: int | None, now: datetime | float
) -> int | None:
    """Return the time step the code belongs to, or None when it is refused.

    Accepts the current step and one either side; refuses a step at or
    before ``last_step``, so a code (its step, not its string) counts once.
    This checks only; ``accept_step`` records the step atomically.
    """
    typed = normalise_code(code)
    if typed is None:
        return None
    current = step_at(now)
    found = None
    # Every candidate is compared, in constant time, so the time taken says
    # nothing about which step matched.
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at_step(secret, step), typed):
            found = step if found is None else found
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


async def accept_step(person_id: int, step: int) -> bool:
    """Record a step as used; False when it, or a later one, already was.

    One UPDATE with the comparison in its WHERE clause: when two sign-ins
    race with the same code, the database lets exactly one of them through.
    """
    updated = await Person.filter(
        Q(id=person_id) & (Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step))
    ).update(totp_last_step=step)
    return updated == 1


# ---------------------------------------------------------------- recovery


def new_recovery_code() -> str:
    chars = "".join(
        secrets.choice(BASE32_ALPHABET)
        for _ in range(RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH)
    )
    return "-".join(
        chars[i : i + RECOVERY_GROUP_LENGTH]
        for i in range(0, len(chars), RECOVERY_GROUP_LENGTH)
    )


def normalise_recovery_code(code: str) -> str | None:
    """Return a recovery code without dashes and spaces, upper case, or None."""
    text = unicodedata.normalize("NFKC", code or "").upper()
    text = "".join(text.replace("-", " ").split())
    return text if _RECOVERY.fullmatch(text) else None


def recovery_hash(code: str) -> str:
    # 120 random bits make a salted slow hash unnecessary (ASVS 6.5.2).
    normal = normalise_recovery_code(code) or ""
    return hashlib.sha256(normal.encode()).hexdigest()


async def replace_recovery_codes(person_id: int) -> list[str]:
    """Give a person ten new recovery codes; the old ones stop working.

    Call inside the transaction that switches 2FA on. Only the hashes are
    kept: the codes are shown once and cannot be shown again.
    """
    await RecoveryCode.filter(person_id=person_id).delete()
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    await RecoveryCode.bulk_create(
        [RecoveryCode(person_id=person_id, code_hash=recovery_hash(c)) for c in codes]
    )
    return codes


async def use_recovery_code(person_id: int, code: str, now: datetime) -> bool:
    """Spend a recovery code; True once, False for an unknown or used one."""
    if normalise_recovery_code(code) is None:
        return False
    updated = await RecoveryCode.filter(
        person_id=person_id, code_hash=recovery_hash(code), used_at__isnull=True
    ).update(used_at=now)
    return updated == 1


async def recovery_codes_left(person_id: int) -> int:
    return await RecoveryCode.filter(person_id=person_id, used_at__isnull=True).count()


async def clear_two_factor(person_id: int) -> None:
    """Forget a person's secret, recovery codes and last step (2FA off)."""
    await RecoveryCode.filter(person_id=person_id).delete()
    await Person.filter(id=person_id).update(
        totp_secret=None, totp_enabled=False, totp_last_step=None
    )


def is_required(person: Person, school_requires: bool) -> bool:
    """True when this person must sign in with a code (SPEC.md section 2).

    Staff always; a person the school requires it of; everyone at a school
    that requires it.
    """
    return bool(person.staff_role) or person.require_2fa or school_requires


def server_secret(settings: Settings) -> str:
    """Return the server secret the web app uses, for code outside a request.

    The configured ``INZAGE_SECRET_KEY``, or in development the key kept in
    the data folder (created on first use, as the web app does), so the demo
    encrypts its staff keys with the key the running portal decrypts them with.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
