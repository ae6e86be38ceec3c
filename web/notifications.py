"""Notificaties: per event, off, an e-mail at once, or a daily summary."""

from __future__ import annotations

from quart import Blueprint, g, redirect, request, url_for

from models.entities import NotificationSetting
from models.messages import (
    DEFAULT_MODES,
    EVENT_APPROVAL_AWAITED,
    EVENT_MESSAGE,
    MODES,
)
from web.i18n import lazy
from web.rendering import render
from web.security import signed_in, wants_fragment

bp = Blueprint("notifications", __name__)

EVENT_TITLES: dict[str, str] = {
    "message": lazy("A new message"),
    "document": lazy("A document is ready"),
    "change_answered": lazy("An answer to a change request"),
    "approval_awaited": lazy("An approval awaits you"),
    "new_data": lazy("New data in a part of the file you can see"),
}
# The events something in the product tells of today. A document ready, an
# answered change request and new data join as the features that produce
# them land (issue "Postkantoor and notifications"): a choice for an event
# that never happens would only mislead.
SHOWN_EVENTS: tuple[str, ...] = (EVENT_MESSAGE, EVENT_APPROVAL_AWAITED)
MODE_TITLES: dict[str, str] = {
    "off": lazy("Off"),
    "immediate": lazy("At once"),
    "daily": lazy("In a daily summary"),
}


async def _choices() -> dict[str, str]:
    chosen = dict(
        await NotificationSetting.filter(person_id=g.person.id).values_list(
            "event", "mode"
        )
    )
    return {event: chosen.get(event, DEFAULT_MODES[event]) for event in SHOWN_EVENTS}


async def _show(saved: bool = False):
    context = dict(
        choices=await _choices(),
        events=SHOWN_EVENTS,
        modes=MODES,
        event_titles=EVENT_TITLES,
        mode_titles=MODE_TITLES,
        saved=saved,
    )
    if wants_fragment():
        return await render("notifications/partials/form.html", **context)
    return await render("notifications/edit.html", **context)


@bp.get("/notifications")
@signed_in
async def edit():
    """Show, per event, whether the person is told by e-mail, and how."""
    return await _show(saved=request.args.get("saved") == "1")


@bp.post("/notifications")
@signed_in
async def save():
    """Save the choices the form holds; an event left out keeps its choice."""
    form = await request.form
    for event in SHOWN_EVENTS:
        mode = form.get(f"event-{event}")
        if mode in MODES:
            await NotificationSetting.update_or_create(
                person_id=g.person.id, event=event, defaults={"mode": mode}
            )
    if wants_fragment():
        return await _show(saved=True)
    return redirect(url_for("notifications.edit", saved=1))
