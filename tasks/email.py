"""Deliver one outbox e-mail: build it from the row, send it, mark it sent.

The job takes only the outbox id. It builds the message, the password link
included, from the row and the server secret, so a retry or a second worker
sends the same message with the same Message-ID. It runs under arq on Redis,
or in the web process when no Redis is configured (``tasks.queue``).

arq retries only on ``Retry``; any other exception fails the job for good
(SECURITY-BASELINE 5.2). So transient SMTP trouble (no connection, a 4xx
answer, a timeout) becomes ``Retry`` with a growing delay, and a permanent
5xx answer marks the row failed, visibly.
"""

from __future__ import annotations

import asyncio
import logging
import re
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

import aiosmtplib
from arq import Retry

from models.catalog import lazy
from models.catalog import translate as gettext
from models.entities import Outbox, Person, School
from models.outbox import (
    FAILED,
    SENT,
    mark_failed,
    mark_sent,
    note_attempt,
    reset_token,
    server_secret,
)
from models.settings import Settings, load_settings
from tasks.mail_render import render_email

logger = logging.getLogger(__name__)

MAX_TRIES = 8
RETRY_BASE_S = 30
RETRY_MAX_S = 3600
SMTP_TIMEOUT_S = 30
JOB_TIMEOUT_S = 60


# Subjects per kind, translated with the same catalog as the pages.
SUBJECTS: dict[str, str] = {
    "reset": lazy("Choose your password for Inzage"),
    "invite": lazy("Your account for Inzage"),
    "2fa-reset": lazy("Two-step verification was reset for your Inzage account"),
    "notice": lazy("New in Inzage"),
    "summary": lazy("Your daily summary from Inzage"),
}


class PermanentFailure(Exception):
    """The message cannot be delivered by trying again."""


def retry_delay_s(job_try: int) -> int:
    """Back off 30 s, 60 s, 120 s ... up to an hour between attempts."""
    return min(RETRY_BASE_S * 2 ** max(job_try - 1, 0), RETRY_MAX_S)


def message_id(outbox_id: int, settings: Settings) -> str:
    """One Message-ID per outbox row, the same from every worker and try."""
    host = urlsplit(settings.base_url).hostname or "localhost"
    return f"<outbox-{outbox_id}.inzage@{host}>"


def link_for(row: Outbox, settings: Settings) -> str:
    """Build the link an e-mail carries; the same on every try."""
    base = settings.base_url.rstrip("/")
    if row.kind == "reset":
        return f"{base}/reset?token={reset_token(server_secret(settings), row.id)}"
    if row.kind == "invite":
        return f"{base}/forgot"
    return f"{base}/login"


def build_message(
    row: Outbox, person: Person, school: School, settings: Settings
) -> EmailMessage:
    """Build the message: a plain-text and an HTML part, no student data."""
    if row.kind not in SUBJECTS:
        raise PermanentFailure(f"no templates for kind {row.kind}")
    if not person.email:
        raise PermanentFailure("the person has no e-mail address")
    language = row.language or person.language
    # What the row's writer put in (event names and counts, for a summary);
    # never student data, never a secret (models.outbox).
    payload = row.payload or {}
    context = {key: value for key, value in payload.items() if key.isidentifier()}
    context.update(
        link=link_for(row, settings),
        school_name=school.name,
        school_code=school.code,
        minutes=15,
        # No password yet: the link is the person's first sign-in.
        first_time=not person.password_hash,
    )
    text, html = render_email(row.kind, language, **context)

    message = EmailMessage()
    try:
        # EmailMessage refuses CR or LF in a header (SECURITY-BASELINE A28).
        message["From"] = settings.mail_from
        message["To"] = person.email
        message["Subject"] = gettext(language, SUBJECTS[row.kind])
    except ValueError as error:
        raise PermanentFailure("a header was refused") from error
    message["Message-ID"] = message_id(row.id, settings)
    message["Date"] = formatdate(localtime=False)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _eml_name(row: Outbox) -> str:
    return f"outbox-{row.id}-{re.sub(r'[^a-z0-9-]', '', row.kind)}.eml"


async def _write_file(message: EmailMessage, row: Outbox, settings: Settings) -> str:
    """Write the message to the mail folder (development and the demo)."""
    folder = settings.mail_dir
    name = _eml_name(row)

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(bytes(message))

    await asyncio.to_thread(write)
    return name


async def _send_smtp(message: EmailMessage, settings: Settings) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_user,
        password=settings.smtp_password,
        timeout=SMTP_TIMEOUT_S,
    )


def _is_transient(error: Exception) -> bool:
    """Connection trouble and 4xx answers pass; 5xx answers do not."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= r.code < 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    return isinstance(error, aiosmtplib.SMTPException | OSError | asyncio.TimeoutError)


async def send_email(ctx: dict, outbox_id: int) -> str:
    """Deliver one outbox row at least once; return what became of it."""
    settings: Settings = ctx.get("settings") or load_settings()
    job_try = int(ctx.get("job_try") or 1)

    row = await Outbox.filter(id=outbox_id).first()
    if row is None:
        logger.warning("outbox=%s not found", outbox_id)
        return "missing"
    if row.status in (SENT, FAILED):
        # At least once, not twice: a job that runs again after the row was
        # sent (a killed worker, the sweeper) stops here.
        logger.info("outbox=%s already %s", outbox_id, row.status)
        return row.status
    person = await Person.filter(id=row.person_id).first() if row.person_id else None
    if person is None:
        await mark_failed(outbox_id, "the person is gone")
        logger.warning("outbox=%s failed: the person is gone", outbox_id)
        return FAILED
    school = await School.get(id=person.school_id)

    try:
        message = build_message(row, person, school, settings)
        if settings.smtp_host:
            await _send_smtp(message, settings)
            logger.info("outbox=%s sent by SMTP try=%s", outbox_id, job_try)
        else:
            name = await _write_file(message, row, settings)
            logger.info("outbox=%s written to mail folder file=%s", outbox_id, name)
    except PermanentFailure as error:
        await note_attempt(outbox_id, str(error))
        await mark_failed(outbox_id, str(error))
        logger.error("outbox=%s failed: %s", outbox_id, error)
        return FAILED
    except Exception as error:
        # The error's class and SMTP code only: an SMTP reply may quote the
        # recipient's address.
        code = getattr(error, "code", "")
        reason = f"{type(error).__name__} {code}".strip()
        await note_attempt(outbox_id, reason)
        if not _is_transient(error):
            await mark_failed(outbox_id, reason)
            logger.error("outbox=%s failed for good: %s", outbox_id, reason)
            return FAILED
        if job_try >= MAX_TRIES:
            await mark_failed(outbox_id, f"gave up after {job_try} tries: {reason}")
            logger.error("outbox=%s failed after %s tries", outbox_id, job_try)
            return FAILED
        delay = retry_delay_s(job_try)
        logger.warning(
            "outbox=%s try=%s transient failure %s, retry in %ss",
            outbox_id,
            job_try,
            reason,
            delay,
        )
        raise Retry(defer=delay) from error

    await note_attempt(outbox_id)
    await mark_sent(outbox_id)
    return SENT
