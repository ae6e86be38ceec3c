"""The Postkantoor: the inbox, a message, deleting one, writing to the school.

Every read goes through ``models.messages``, whose statements apply the
access rules at each request: a message a person may no longer see answers
404 like one that was never theirs.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from quart import Blueprint, Response, abort, g, redirect, request, url_for

from models.access import linked_students, portal_view, utcnow
from models.entities import Person, Student
from models.messages import (
    GENERAL,
    InvalidMessage,
    badge_for_token,
    count_unread,
    delete_for,
    inbox_page,
    mark_read,
    open_message,
    school_timezone,
    send_message,
)
from models.sessions import COOKIE_NAME, load_session
from web.i18n import gettext, set_language
from web.records import page_number
from web.rendering import render
from web.security import signed_in, to_sign_in, wants_fragment
from web.twofactor import guard_pending_session

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
security_log = logging.getLogger("inzage.security")

# The event the badge listens to, sent when a read or delete changed it.
INBOX_CHANGED = "inbox-changed"

# Only these schemes become links; everything else stays text (A25).
_LINK = re.compile(r"(?:https://|mailto:)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Part:
    """A piece of a message body: text, or a link; the template escapes both."""

    text: str
    is_link: bool = False


def body_parts(body: str) -> list[Part]:
    """Split plain text into text and https/mailto links, for the template.

    Nothing is marked safe: the template escapes every part and builds the
    anchor itself, so a body can never add markup or another scheme.
    """
    parts, start = [], 0
    for match in _LINK.finditer(body):
        link = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(link)
        if len(link) <= len("https://"):
            continue
        if match.start() > start:
            parts.append(Part(body[start : match.start()]))
        parts.append(Part(link, is_link=True))
        start = end
    if start < len(body):
        parts.append(Part(body[start:]))
    return parts


async def _show_times(items) -> None:
    """Give each item its time as the school's clock shows it."""
    zone = ZoneInfo(await school_timezone(g.person.school_id))
    for item in items:
        item.shown_at = item.created_at.astimezone(zone).strftime("%d-%m-%Y %H:%M")


def _child_filter(raw: str | None) -> int | None:
    try:
        value = int(raw or 0)
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


def _list_place() -> dict:
    """Return where in the list the person was: page and child, validated."""
    place = {}
    number = page_number(request.args.get("page"))
    if number > 1:
        place["page"] = number
    child = _child_filter(request.args.get("child"))
    if child:
        place["child"] = child
    return place


@bp.get("/")
@signed_in
async def index():
    """List the person's messages, newest first, 25 to a page, by child."""
    place = _list_place()
    child = place.get("child")
    page = await inbox_page(g.person, place.get("page", 1), child, utcnow())
    children = await linked_students(g.person.id)
    await _show_times(page.items)

    context = dict(page=page, children=children, child=child, place=place)
    if wants_fragment():
        return await render("inbox/partials/list.html", **context)
    return await render("inbox/index.html", **context)


@bp.get("/badge")
async def badge():
    """Show the unread count: the session check and the count, one statement."""
    token = request.cookies.get(COOKIE_NAME)
    if wants_fragment():
        found = await badge_for_token(token)
        if found is None:
            return to_sign_in()
        if not found.pending_2fa:
            set_language(found.language)
            return await render("inbox/partials/badge.html", unread=found.unread)

    # The whole page, or a half-finished sign-in: the usual session, still
    # untouched, and the two-factor guard that sends it to its step.
    active = await load_session(token, touch=False)
    if active is None:
        return to_sign_in()
    g.session, g.person = active.row, active.person
    step = await guard_pending_session()
    if step is not None:
        return step
    set_language(g.person.language)
    unread = await count_unread(g.person)
    return await render("inbox/badge.html", unread=unread)


async def _message_or_404(message_id: int):
    item = await open_message(g.person, message_id, utcnow())
    if item is None:
        security_log.info(
            "message refused person=%s message=%s", g.person.id, message_id
        )
        abort(404)
    return item


@bp.get("/<int:message_id>")
@signed_in
async def message(message_id: int):
    """Show one message and mark it read (a read marker, SPEC.md section 11)."""
    item = await _message_or_404(message_id)
    was_unread = item.read_at is None
    await mark_read(item)
    await _show_times([item])

    context = dict(item=item, parts=body_parts(item.body), place=_list_place())
    if wants_fragment():
        body = await render("inbox/partials/message.html", **context)
        response = Response(body)
        if was_unread:
            response.headers["HX-Trigger"] = INBOX_CHANGED
        return response
    return await render("inbox/message.html", **context)


@bp.get("/<int:message_id>/delete")
@signed_in
async def confirm_delete(message_id: int):
    """Ask whether to delete a message for this person."""
    item = await _message_or_404(message_id)
    context = dict(item=item, place=_list_place())
    if wants_fragment():
        return await render("inbox/partials/confirm_delete.html", **context)
    return await render("inbox/confirm_delete.html", **context)


@bp.post("/<int:message_id>/delete")
@signed_in
async def delete(message_id: int):
    """Delete a message for this person only, then go back to the list."""
    if not await delete_for(g.person, message_id, utcnow()):
        abort(404)
    response = redirect(url_for("inbox.index", **_list_place()), 303)
    response.headers["HX-Trigger"] = INBOX_CHANGED
    return response


# ---------------------------------------------------------------- writing


async def school_recipients(student: Student) -> list[Person]:
    """Return the student's homeroom mentor, or the school's admins without one."""
    if student.homeroom_id is not None:
        mentor = await Person.filter(
            mentor_of__id=student.homeroom_id, active=True
        ).first()
        if mentor is not None:
            return [mentor]
    return await Person.filter(
        school_id=student.school_id, staff_role="admin", active=True
    ).order_by("id")


def _form_values(form) -> dict:
    return {
        "child": _child_filter(form.get("child")),
        "subject": form.get("subject", "")[:400],
        "body": form.get("body", "")[:20_000],
        "nonce": form.get("nonce", "")[:64] or None,
    }


async def _compose(form: dict, error: str | None = None, status: int = 200):
    children = await linked_students(g.person.id)
    context = dict(children=children, form=form, error=error)
    template = "inbox/partials/new.html" if wants_fragment() else "inbox/new.html"
    return await render(template, **context), status


@bp.get("/new")
@signed_in
async def new():
    """Show the form to write to the school about one of the person's children."""
    chosen = _child_filter(request.args.get("child"))
    form = {"child": chosen, "subject": "", "body": ""}
    # A fresh nonce per form: the same form sent twice makes one message.
    form["nonce"] = secrets.token_urlsafe(16)
    return await _compose(form)


@bp.post("/new")
@signed_in
async def send():
    """Send a message to the school about a child this person is linked to."""
    form = _form_values(await request.form)
    child = form["child"]
    view = await portal_view(g.person.id, child, utcnow()) if child else None
    if view is None:
        # Not linked to this child (or no child): as if it did not exist.
        security_log.info("message refused person=%s student=%s", g.person.id, child)
        abort(404)

    recipients = await school_recipients(view.student)
    if not recipients:
        error = gettext("The school cannot receive messages yet. Please call them.")
        return await _compose(form, error, 400)
    try:
        result = await send_message(
            school=view.school,
            sender=g.person,
            recipients=recipients,
            student=view.student,
            kind=GENERAL,
            subject=form["subject"],
            body=form["body"],
            idempotency_key=form["nonce"],
        )
    except InvalidMessage as invalid:
        return await _compose(form, gettext(str(invalid)), 400)

    context = dict(result=result, student=view.student)
    if wants_fragment():
        return await render("inbox/partials/sent.html", **context)
    return await render("inbox/sent.html", **context)
