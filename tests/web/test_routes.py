"""Every route against every role: who gets what (SECURITY-BASELINE A20-A22, A29).

The routes come from ``app.url_map``, so a new route is in the matrix the day it
is added, and the test refuses a route nobody has classified yet.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

import pytest
from tortoise import Tortoise

# TestScore by its module: a bare Test* name would be collected by pytest.
from models import entities
from models.entities import (
    CARER,
    PARENT,
    SECTIONS,
    SELF,
    Absence,
    AccessLog,
    Document,
    Person,
    Record,
    Result,
    Session,
    Student,
)
from tests.factories import (
    approve,
    link,
    make_class,
    make_person,
    make_school,
    make_student,
)

# What each endpoint is; a route missing here fails test_every_route_is_classified.
PUBLIC = "public"  # answers without a session
HOME = "home"  # the start page: sends everyone somewhere
PORTAL = "portal"  # student data in the family part: 404 without access
STAFF = "staff"  # staff part: 403 to non-staff, 404 outside the role
DECIDER = "decider"  # the family log: the deciders of section 4 only
INBOX = "inbox"  # one's own messages and settings: any signed-in person
ADMIN = "admin"  # staff part for admins only: 403 to everyone else
ACCOUNT = "account"  # one's own account pages: any signed-in person
SIGN_IN_STEP = "sign-in step"  # only a half-finished sign-in; others go on
ROUTE_KINDS: dict[str, str] = {
    "static": PUBLIC,
    "auth.sign_in": PUBLIC,
    "auth.sign_in_post": PUBLIC,
    "auth.sign_out": PUBLIC,
    "auth.choose_language": PUBLIC,
    "auth.health": PUBLIC,
    "auth.forgot": PUBLIC,
    "auth.forgot_post": PUBLIC,
    "auth.reset": PUBLIC,
    "auth.reset_post": PUBLIC,
    "account.overview": ACCOUNT,
    "account.password": ACCOUNT,
    "account.password_post": ACCOUNT,
    "account.sessions": ACCOUNT,
    "account.end_one": ACCOUNT,
    "account.end_all": ACCOUNT,
    "portal.welcome": HOME,
    "portal.student": PORTAL,
    "portal.section": PORTAL,
    "portal.download": PORTAL,
    "staff.students": STAFF,
    "staff.student": STAFF,
    "staff.section": STAFF,
    "staff.download": STAFF,
    "api.messages": PUBLIC,
    "staff_messages.send_class": STAFF,
    "staff_messages.compose_class": STAFF,
    "staff_messages.send_student": STAFF,
    "staff_messages.compose_student": STAFF,
    "staff_messages.index": STAFF,
    "notifications.save": INBOX,
    "notifications.edit": INBOX,
    "sharing.grid": PORTAL,
    "sharing.set_cell": PORTAL,
    "sharing.staff_grid": STAFF,
    "sharing.record_paper": STAFF,
    "sharing.settings": ADMIN,
    "sharing.save_settings": ADMIN,
    "access_log.family_log": DECIDER,
    "access_log.staff_log": STAFF,
    "inbox.send": INBOX,
    "inbox.new": INBOX,
    "inbox.delete": INBOX,
    "inbox.confirm_delete": INBOX,
    "inbox.message": INBOX,
    "inbox.badge": INBOX,
    "inbox.index": INBOX,
    "twofactor.code": SIGN_IN_STEP,
    "twofactor.code_post": SIGN_IN_STEP,
    "twofactor.setup": ACCOUNT,
    "twofactor.setup_start": ACCOUNT,
    "twofactor.setup_post": ACCOUNT,
    "twofactor.disable": ACCOUNT,
    "twofactor.disable_post": ACCOUNT,
    "staff_security.overview": ADMIN,
    "staff_security.school_2fa": ADMIN,
    "staff_security.require_2fa": ADMIN,
    "staff_security.reset_2fa": ADMIN,
}
# Accounts: without the current password, a session id or a link cookie a
# guardian's forged POST changes no row; ending all of one's own sessions
# touches only the session table (left out of the comparison).
ACCOUNT_POSTS = (
    "auth.forgot_post",
    "auth.reset_post",
    "account.password_post",
    "account.end_one",
    "account.end_all",
)
# Two-factor policy: a guardian's forged POST is refused (403); none changes a row.
STAFF_SECURITY_POSTS = (
    "staff_security.school_2fa",
    "staff_security.require_2fa",
    "staff_security.reset_2fa",
)
# Messages: a guardian's forged POST finds no message (404), no key (401),
# no staff right (403), or no child of theirs (404); none changes a row.
MESSAGE_POSTS: tuple[str, ...] = (
    "inbox.delete",
    "inbox.send",
    "notifications.save",
    "staff_messages.send_student",
    "staff_messages.send_class",
    "api.messages",
)
# Sharing: a guardian's forged POST names no wanted state (400) or is
# not staff (403); none changes a row.
SHARING_POSTS: tuple[str, ...] = (
    "sharing.set_cell",
    "sharing.record_paper",
    "sharing.save_settings",
)
PUBLIC_ENDPOINTS = frozenset(e for e, kind in ROUTE_KINDS.items() if kind == PUBLIC)

ROLES = (
    "signed_out",
    "guardian",
    "student",
    "carer",
    "parent",
    "mentor",
    "care",
    "admin",
)
STAFF_ROLES = frozenset({"mentor", "care", "admin"})
# What each family role sees of the child: the carer's approvals cover absence.
FAMILY_SEES: dict[str, frozenset[str]] = {
    "guardian": frozenset(SECTIONS),
    "student": frozenset(),
    "carer": frozenset({"absence"}),
    "parent": frozenset(),
}
UNKNOWN_SECTION = "nope"
HTMX = {"HX-Request": "true"}

# Tables a GET may change (SPEC.md section 11): the access log, session activity.
GET_MAY_CHANGE = frozenset({AccessLog._meta.db_table, Session._meta.db_table})


def marker(child: str, section: str) -> str:
    return f"{child}-{section}-marker"


@dataclass
class World:
    """One school: the child with a guardian, a student account, a carer, a
    parent without authority and three staff; and another child with its own
    guardian, whom none of them may see in the family part."""

    kid: Student
    other: Student
    people: dict[str, Person]
    other_guardian: Person
    documents: dict[int, Document] = field(default_factory=dict)

    def child_name(self, student_id: int) -> str:
        return "kid" if student_id == self.kid.id else "other"


async def add_records(student: Student, child: str, files_dir) -> Document:
    """Give a student one record in every section, each with a findable marker."""
    day = date(2026, 10, 1)
    await Student.filter(id=student.id).update(address=marker(child, "personal"))
    await Absence.create(student=student, date=day, reason=marker(child, "absence"))
    await Result.create(
        student=student, date=day, subject=marker(child, "results"), score="7,5"
    )
    await entities.TestScore.create(
        student=student, date=day, test_name=marker(child, "tests")
    )
    for section in ("reports", "meetings", "care", "notes"):
        await Record.create(
            student=student, section=section, date=day, title=marker(child, section)
        )
    storage_name = uuid.uuid4().hex
    files_dir.mkdir(parents=True, exist_ok=True)
    (files_dir / storage_name).write_bytes(marker(child, "documents").encode())
    return await Document.create(
        student=student,
        date=day,
        title=marker(child, "documents"),
        filename=f"{child}.pdf",
        storage_name=storage_name,
    )


async def build_world(settings) -> World:
    school = await make_school(f"W{uuid.uuid4().hex[:8].upper()}")
    mentor = await make_person(school, staff_role="mentor")
    homeroom = await make_class(school, mentor)
    kid = await make_student(
        school, given_name="Sanne", family_name="de Vries", homeroom=homeroom
    )
    other = await make_student(school, given_name="Bram", family_name="Jansen")
    people = {
        "guardian": await make_person(school),
        "student": await make_person(school),
        "carer": await make_person(school),
        "parent": await make_person(school),
        "mentor": mentor,
        "care": await make_person(school, staff_role="care"),
        "admin": await make_person(school, staff_role="admin"),
    }
    await link(people["guardian"], kid)
    await link(people["student"], kid, SELF)
    await link(people["carer"], kid, CARER)
    await link(people["parent"], kid, PARENT)
    await approve(people["guardian"], people["carer"], kid, "absence")
    other_guardian = await make_person(school)
    await link(other_guardian, other)

    world = World(kid=kid, other=other, people=people, other_guardian=other_guardian)
    for student, child in ((kid, "kid"), (other, "other")):
        document = await add_records(student, child, settings.files_dir)
        world.documents[student.id] = document
    return world


@pytest.fixture
async def world(database) -> World:
    return await build_world(database)


# ------------------------------------------------------------- the routes


@dataclass(frozen=True)
class Target:
    endpoint: str
    method: str
    url: str
    values: dict

    @property
    def kind(self) -> str:
        return ROUTE_KINDS[self.endpoint]


def argument_choices(name: str, world: World) -> list:
    """Real values for a route argument; an unknown argument stops the test."""
    students = [world.kid.id, world.other.id]
    choices = {
        "student_id": students,
        "section": [*SECTIONS, UNKNOWN_SECTION],
        "filename": ["app.css"],
        "message_id": [1],
        "class_id": [world.kid.homeroom_id],
    }
    if name not in choices and name != "document_id":
        pytest.fail(f"teach test_routes.argument_choices the argument {name!r}")
    return choices.get(name, [])


def route_targets(app, world: World) -> list[Target]:
    """Enumerate every route of the app with its arguments filled in."""
    adapter = app.url_map.bind("localhost")
    targets = []
    for rule in app.url_map.iter_rules():
        combos = [{}]
        for name in sorted(rule.arguments - {"document_id"}):
            combos = [
                {**c, name: v} for c in combos for v in argument_choices(name, world)
            ]
        if "document_id" in rule.arguments:
            # Each child's own document, and the other child's under the kid.
            combos = [
                {**c, "document_id": world.documents[c["student_id"]].id}
                for c in combos
            ] + [
                {
                    "student_id": world.kid.id,
                    "document_id": world.documents[world.other.id].id,
                }
            ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for values in combos:
                url = adapter.build(rule.endpoint, values)
                targets.append(Target(rule.endpoint, method, url, values))
    return targets


def expected_status(target: Target, role: str, world: World) -> int:
    """The status SPEC.md sections 4 and 11 ask for, for one GET and one role."""
    kind, values = target.kind, target.values
    student_id = values.get("student_id")
    section = values.get("section")
    document_id = values.get("document_id")
    own_document = document_id is None or world.documents[student_id].id == document_id

    if kind == PUBLIC:
        signed_in_at_login = target.endpoint == "auth.sign_in" and role != "signed_out"
        return 302 if signed_in_at_login else 200
    if role == "signed_out" or kind in (HOME, SIGN_IN_STEP):
        return 302
    if kind == ACCOUNT:
        return 200
    if kind == ADMIN:
        return 200 if role == "admin" else 403
    if kind == INBOX:
        # The world holds no message, so a message id is nobody's: 404.
        return 404 if "message_id" in values else 200
    if kind == DECIDER:
        # Under 16 the guardians decide; the kid is under 16.
        return 200 if role == "guardian" and student_id == world.kid.id else 404
    if kind == STAFF:
        if role not in STAFF_ROLES:
            return 403
        if student_id is None:
            return 200
        if role == "mentor" and student_id != world.kid.id:
            return 404
        if section == UNKNOWN_SECTION or not own_document:
            return 404
        return 200
    # PORTAL: only the kid is linked, and only to the family roles.
    if role not in FAMILY_SEES or student_id != world.kid.id:
        return 404
    sees = FAMILY_SEES[role]
    if target.endpoint == "portal.download":
        return 200 if "documents" in sees and own_document else 404
    if section is None:
        return 200
    return 200 if section in sees else 404


async def sign_in_as(role: str, world: World, client, sign_in):
    return client if role == "signed_out" else await sign_in(world.people[role])


def allowed_markers(role: str, target: Target, world: World) -> set[str]:
    """The markers a 200 answer to this role on this route may contain."""
    if target.kind == STAFF:
        children = {"kid"} if role == "mentor" else {"kid", "other"}
        return {marker(c, s) for c in children for s in SECTIONS}
    if target.kind == PORTAL and role in FAMILY_SEES:
        return {marker("kid", s) for s in FAMILY_SEES[role]}
    return set()


ALL_MARKERS = {marker(c, s) for c in ("kid", "other") for s in SECTIONS}


def leaked(body: str, allowed: set[str]) -> set[str]:
    return {m for m in ALL_MARKERS - allowed if m in body}


def same_origin_path(value: str) -> bool:
    """True for a path on this site: no scheme, no host, no backslash tricks."""
    parts = urlsplit(value)
    return (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not parts.scheme
        and not parts.netloc
    )


# ------------------------------------------------------------- the tests


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}

    assert endpoints - ROUTE_KINDS.keys() == set(), "classify the new route(s)"
    assert ROUTE_KINDS.keys() - endpoints == set(), "remove the gone route(s)"


async def test_route_inventory_every_non_public_route_needs_a_session(app, world):
    client = app.test_client()
    page = await (await client.get("/login")).get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    checked = 0
    for target in route_targets(app, world):
        if target.endpoint in PUBLIC_ENDPOINTS:
            continue
        form = {"csrf_token": token} if target.method != "GET" else None
        page = await client.open(target.url, method=target.method, form=form)
        fragment = await client.open(
            target.url, method=target.method, form=form, headers=HTMX
        )

        assert page.status_code == 302, target
        assert page.headers["Location"] == "/login", target
        if target.endpoint != "portal.welcome":
            assert fragment.status_code == 401, target
            assert fragment.headers["HX-Redirect"] == "/login", target
        for response in (page, fragment):
            assert leaked(await response.get_data(True), set()) == set(), target
        checked += 1

    assert checked > 40


@pytest.mark.parametrize("role", ROLES)
async def test_route_role_matrix(app, world, client, sign_in, role):
    client = await sign_in_as(role, world, client, sign_in)

    failures = []
    for target in route_targets(app, world):
        if target.method != "GET":
            continue
        expected = expected_status(target, role, world)
        for headers in ({}, HTMX):
            response = await client.get(target.url, headers=headers)
            body = await response.get_data(True)
            got = response.status_code
            want = expected
            if (
                headers
                and role == "signed_out"
                and target.kind
                in (PORTAL, STAFF, ADMIN, ACCOUNT, SIGN_IN_STEP, DECIDER)
            ):
                want = 401  # HTMX gets the sign-in address in HX-Redirect
            if headers and role == "signed_out" and target.kind == INBOX:
                want = 401
            allowed = allowed_markers(role, target, world) if got == 200 else set()
            if got != want or got >= 500 or leaked(body, allowed):
                failures.append(
                    (target.url, bool(headers), got, want, leaked(body, allowed))
                )
            for name in ("Location", "HX-Redirect"):
                if name in response.headers:
                    assert same_origin_path(response.headers[name]), target

    assert failures == []


async def test_guardian_cannot_reach_the_other_child_by_swapping_ids(
    app, world, sign_in
):
    kid, other = world.kid, world.other
    mine = await sign_in(world.people["guardian"])
    theirs = await sign_in(world.other_guardian)
    kid_doc, other_doc = world.documents[kid.id], world.documents[other.id]
    cases = [
        (mine, f"/students/{other.id}/", "other"),
        (mine, f"/students/{other.id}/documents/{other_doc.id}", "other"),
        (mine, f"/students/{kid.id}/documents/{other_doc.id}", "other"),
        (theirs, f"/students/{kid.id}/", "kid"),
        (theirs, f"/students/{kid.id}/documents/{kid_doc.id}", "kid"),
        (theirs, f"/students/{other.id}/documents/{kid_doc.id}", "kid"),
    ]
    for section in SECTIONS:
        cases.append((mine, f"/students/{other.id}/{section}", "other"))
        cases.append((theirs, f"/students/{kid.id}/{section}", "kid"))

    for client, url, foreign in cases:
        for headers in ({}, HTMX):
            response = await client.get(url, headers=headers)
            body = await response.get_data(True)

            assert response.status_code == 404, url
            assert not any(marker(foreign, s) in body for s in SECTIONS), url
            name = "Bram" if foreign == "other" else "Sanne"
            assert name not in body, url

    # The swap is refused, not broken: each guardian reaches their own child.
    own = await mine.get(f"/students/{kid.id}/documents/{kid_doc.id}")
    assert own.status_code == 200
    assert await own.get_data() == marker("kid", "documents").encode()


async def snapshot(skip: frozenset[str] = frozenset()) -> dict[str, list[dict]]:
    """Return every row of every table, by table name."""
    tables = {}
    for models in Tortoise.apps.values():
        for model in models.values():
            name = model._meta.db_table
            if name not in skip:
                tables[name] = await model.all().order_by(model._meta.pk_attr).values()
    return tables


def post_targets(app, world: World) -> list[Target]:
    return [t for t in route_targets(app, world) if t.method == "POST"]


async def test_forged_student_id_in_a_post_changes_nothing_of_that_child(
    app, world, sign_in
):
    forged = {
        "student_id": str(world.other.id),
        "person_id": str(world.other_guardian.id),
        "viewer_id": str(world.people["guardian"].id),
        "section": "results",
    }
    guardian = world.people["guardian"]
    targets = post_targets(app, world)
    # What each POST may change of the guardian's own rows; nothing else.
    own_changes = {
        "auth.choose_language": {("person", guardian.id)},
        "twofactor.setup_start": {("person", guardian.id)},  # an unconfirmed key
    }
    assert {t.endpoint for t in targets} == {
        "auth.sign_in_post",
        "auth.sign_out",
        "auth.choose_language",
        "twofactor.code_post",
        "twofactor.setup_start",
        "twofactor.setup_post",
        "twofactor.disable_post",
        *ACCOUNT_POSTS,
        *STAFF_SECURITY_POSTS,
        *MESSAGE_POSTS,
        *SHARING_POSTS,
    }, "a new POST route: add it here with what it may change"

    # Sessions, and the throttle's counts of failed attempts (a forged
    # sign-in is one), are the server's own bookkeeping, not anyone's data.
    bookkeeping = frozenset({"session", "throttle"})
    for target in targets:
        client = await sign_in(guardian)
        before = await snapshot(skip=bookkeeping)
        session_before = await Session.filter(person_id=world.other_guardian.id).count()

        response = await client.post(
            target.url, form=client.form(language="en", **forged)
        )
        after = await snapshot(skip=bookkeeping)

        assert response.status_code in (302, 303, 400, 401, 404, 403), target
        # Only the signed-in guardian's own language may change.
        changed = {
            (table, row["id"])
            for table in before
            for row, new in zip(before[table], after[table], strict=True)
            if row != new
        }
        if target.endpoint in own_changes:
            assert changed == own_changes[target.endpoint]
            assert after["person"] != before["person"]
        else:
            assert changed == set(), target
        assert {t: len(r) for t, r in after.items()} == {
            t: len(r) for t, r in before.items()
        }
        sessions = await Session.all().values("person_id", "student_id")
        assert all(s["student_id"] is None for s in sessions)
        assert (
            await Session.filter(person_id=world.other_guardian.id).count()
            == session_before
        )


async def test_carer_with_absence_only_sees_no_results(world, sign_in):
    client = await sign_in(world.people["carer"])
    kid = world.kid

    results = await client.get(f"/students/{kid.id}/results")
    fragment = await client.get(f"/students/{kid.id}/results", headers=HTMX)
    absence = await client.get(f"/students/{kid.id}/absence")
    absence_fragment = await client.get(f"/students/{kid.id}/absence", headers=HTMX)

    assert results.status_code == 404 and fragment.status_code == 404
    for response in (results, fragment):
        assert marker("kid", "results") not in await response.get_data(True)
    assert absence.status_code == 200 and absence_fragment.status_code == 200
    for response in (absence, absence_fragment):
        body = await response.get_data(True)
        assert marker("kid", "absence") in body
        assert marker("kid", "results") not in body and "7,5" not in body
        assert 'class="score"' not in body


@pytest.mark.parametrize("role", ROLES)
async def test_get_changes_nothing_but_the_access_log_and_sessions(
    app, world, client, sign_in, role
):
    client = await sign_in_as(role, world, client, sign_in)
    before = await snapshot(skip=GET_MAY_CHANGE)
    logged_before = await AccessLog.all().count()

    for target in route_targets(app, world):
        if target.method == "GET":
            await client.get(target.url)
            await client.get(target.url, headers=HTMX)
    after = await snapshot(skip=GET_MAY_CHANGE)

    assert {t: len(rows) for t, rows in after.items()} == {
        t: len(rows) for t, rows in before.items()
    }
    assert after == before
    # The crawl did reach data: views of what the role may see are logged.
    if role in ("guardian", "carer", "admin", "care", "mentor"):
        assert await AccessLog.all().count() > logged_before
