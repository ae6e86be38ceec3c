"""The school systems' API: ``POST /api/messages`` with a per-school key.

No cookie and no session: the key in ``Authorization: Bearer`` is the
credential, so CSRF does not apply. Only the key's SHA-256 hash is stored
(``School.api_key_hash``), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from quart import Blueprint, jsonify, request

from models.entities import Person, School, Student
from models.messages import (
    GENERAL,
    MESSAGE_KINDS,
    SECTION,
    SHARING,
    InvalidMessage,
    guardians_of,
    send_message,
)
from web.security import csrf_exempt

bp = Blueprint("api", __name__, url_prefix="/api")
security_log = logging.getLogger("inzage.security")

# Who receives: the student's guardians, or everyone linked to the student
# (the access rules then decide who may see the message).
AUDIENCES: tuple[str, ...] = ("guardians", "linked")
MAX_FIELD_CHARS = 20_000


def new_api_key(school: School) -> str:
    """Return a new key for a school; the school code tells whose it is."""
    return f"{school.code}.{secrets.token_urlsafe(32)}"


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def replace_api_key(school_code: str) -> str | None:
    """Give a school a new key, replacing any old one; None without the school."""
    school = await School.filter(code=school_code.strip().upper()).first()
    if school is None:
        return None
    key = new_api_key(school)
    # Only the hash is kept: the key is shown once, by the caller.
    await School.filter(id=school.id).update(api_key_hash=api_key_hash(key))
    return key


async def school_for_key(header: str | None) -> School | None:
    """Return the school whose key the Authorization header carries."""
    if not header or not header.startswith("Bearer ") or len(header) > 300:
        return None
    key = header[len("Bearer ") :].strip()
    code, _, _ = key.partition(".")
    school = await School.filter(code=code).first() if code else None
    # Compare a hash with the stored hash in constant time, whether or not
    # the school exists or has a key, so timing tells nothing.
    stored = (school.api_key_hash if school else None) or "0" * 64
    valid = hmac.compare_digest(api_key_hash(key).encode(), stored.encode())
    return school if valid and school and school.api_key_hash else None


def _error(status: int, text: str):
    return jsonify({"error": text}), status


def _ref(person: Person) -> dict:
    return {"id": person.id, "sourcedId": person.sourced_id}


@bp.post("/messages")
@csrf_exempt
async def messages():
    """Send a message about a student named by OneRoster sourcedId."""
    school = await school_for_key(request.headers.get("Authorization"))
    if school is None:
        security_log.warning("api key refused")
        response = jsonify({"error": "A valid API key is needed: Bearer <key>."})
        response.headers["WWW-Authenticate"] = 'Bearer realm="inzage"'
        return response, 401

    data = await request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "Send a JSON object.")
    fields = {k: data.get(k) for k in ("student", "kind", "section", "subject")}
    fields.update(body=data.get("body"), to=data.get("to", "guardians"))
    key = data.get("idempotencyKey")
    texts = [v for v in (*fields.values(), key) if v is not None]
    if not all(isinstance(v, str) and len(v) <= MAX_FIELD_CHARS for v in texts):
        return _error(400, "Every field is a string.")
    kind = fields["kind"] or (SECTION if fields["section"] else GENERAL)
    if kind not in MESSAGE_KINDS or fields["to"] not in AUDIENCES:
        return _error(
            400, "kind is section, general or sharing; to is guardians or linked."
        )

    student = None
    if fields["student"]:
        student = await Student.filter(
            school_id=school.id, sourced_id=fields["student"], active=True
        ).first()
        if student is None:
            return _error(404, "No student of this school has that sourcedId.")
    if student is None and kind in (SECTION, SHARING):
        return _error(400, "Name the student by sourcedId.")

    if student is None:
        recipients = []
    elif fields["to"] == "guardians":
        recipients = await guardians_of(student)
    else:
        recipients = await Person.filter(
            relations__student_id=student.id, relations__active=True, active=True
        ).distinct()
    try:
        result = await send_message(
            school=school,
            sender=None,
            recipients=recipients,
            student=student,
            kind=kind,
            section=fields["section"] or None,
            subject=fields["subject"] or "",
            body=fields["body"] or "",
            idempotency_key=key,
        )
    except InvalidMessage as invalid:
        return _error(400, str(invalid))

    answer = {
        "message": result.message.id if result.message else None,
        "delivered": [_ref(p) for p in result.delivered],
        "leftOut": [_ref(p) for p in result.left_out],
        "duplicate": result.duplicate,
    }
    return jsonify(answer), 200 if result.duplicate or not result.message else 201
