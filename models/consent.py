"""Sharing: the deciders' approvals and the Instellen toegang grid.

``models.access`` decides who sees what; this module records the approvals it
reads, and lays out, for one student, who may be given access to which
section and who has approved it. A change of an approval and its row in the
access log commit together, in one transaction.

The grid loads in a fixed number of statements, whatever the number of
persons and sections: the household (everyone linked, with names) and the
student's approvals, one each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models import sql
from models.access import (
    AGE_OF_CONSENT,
    AGE_OF_MAJORITY,
    Family,
    deciders,
    section_visible,
    utcnow,
)
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SELF,
    AccessLog,
    Person,
    School,
    Student,
)

logger = logging.getLogger(__name__)

APPROVE = "approve"
WITHDRAW = "withdraw"
WANTED_STATES: tuple[str, ...] = (APPROVE, WITHDRAW)

# Who can be given access: under 16 the guardians decide for the others; from
# 16 the student decides for everyone else, guardians included.
GRANTABLE_UNDER_16: tuple[str, ...] = (SELF, PARENT, CARER)
GRANTABLE_FROM_16: tuple[str, ...] = (GUARDIAN, PARENT, CARER)
ROW_ORDER: dict[str, int] = {SELF: 0, GUARDIAN: 1, PARENT: 2, CARER: 3}

# Cell states as a decider sees them (SPEC.md section 4).
SHARED = "shared"  # every decider approved: the person sees it (green)
TICKED = "ticked"  # this decider approved, not everyone has (red)
WAITING = "waiting"  # others approved, this decider has not (neutral)
OPEN = "open"  # this decider has not approved, nor has anyone else (neutral)


class NotAllowed(Exception):
    """Raised when a change is not this person's to make; the web says 404."""


# ---------------------------------------------------------------- the household


@dataclass(frozen=True)
class Member:
    """A person linked to the student, as the grid names them."""

    id: int
    name: str
    kind: str
    authorised: bool
    can_sign_in: bool

    @property
    def through_school(self) -> bool:
        """True for someone who cannot use the portal and decides on paper."""
        return not (self.authorised and self.can_sign_in)


@dataclass(frozen=True)
class Household:
    """One student at one moment: the rules' Family and everyone linked."""

    student: Student
    school: School
    family: Family
    members: dict[int, Member]

    @property
    def decider_ids(self) -> tuple[int, ...]:
        """Return the deciders, ordered by name."""
        ids = deciders(self.family)
        return tuple(m.id for m in self._by_name() if m.id in ids)

    def grantable(self) -> list[Member]:
        """Return the persons who may be given access, in row order."""
        if self.family.age is None:
            return []
        kinds = (
            GRANTABLE_FROM_16
            if self.family.age >= AGE_OF_CONSENT
            else GRANTABLE_UNDER_16
        )
        rows = [m for m in self._by_name() if m.kind in kinds and m.authorised]
        return sorted(rows, key=lambda m: ROW_ORDER[m.kind])

    def member(self, person_id: int) -> Member | None:
        return self.members.get(person_id)

    def name(self, person_id: int) -> str:
        member = self.members.get(person_id)
        return member.name if member else ""

    def kept_for_guardians(self, kind: str, section: str) -> bool:
        """True where the school keeps a section visible to guardians until 18."""
        age = self.family.age
        return (
            kind == GUARDIAN
            and age is not None
            and AGE_OF_CONSENT <= age < AGE_OF_MAJORITY
            and section in self.family.guardian_sections_until_18
        )

    def _by_name(self) -> list[Member]:
        return sorted(self.members.values(), key=lambda m: (m.name.lower(), m.id))


# Everyone linked to the student, with what the grid shows of them. Only
# active persons: an inactive account is neither a row nor a decider's name.
_MEMBERS_SQL = (
    "SELECT r.person_id AS id, r.kind AS kind, r.authorised AS authorised,"
    " p.given_name AS given_name, p.family_name AS family_name,"
    " p.can_sign_in AS can_sign_in, p.email AS email"
    " FROM relation r JOIN person p ON p.id = r.person_id"
    " WHERE r.student_id = ? AND r.active = ? AND p.active = ?"
)


async def load_household(student: Student, school: School, family: Family):
    """Load everyone linked to the student, in one statement."""
    rows = await sql.fetch(_MEMBERS_SQL, student.id, True, True)
    members = {}
    for row in rows:
        name = f"{row['given_name']} {row['family_name']}".strip()
        members[row["id"]] = Member(
            id=row["id"],
            name=name,
            kind=row["kind"],
            authorised=sql.as_bool(row["authorised"]),
            can_sign_in=sql.as_bool(row["can_sign_in"]) and bool(row["email"]),
        )
    return Household(student, school, family, members)


# ---------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Cell:
    """One person and one section: who approved, who is awaited, who sees it.

    ``mine`` is this decider's own approval, or None when the cell is seen by
    someone who does not decide (staff, or the person it is about).
    """

    viewer_id: int
    kind: str
    section: str
    approver_ids: tuple[int, ...]
    awaited_ids: tuple[int, ...]
    paper_ids: frozenset[int]
    visible: bool
    kept: bool
    mine: bool | None
    seen_by: int | None

    @property
    def state(self) -> str:
        if self.visible:
            return SHARED
        if self.mine:
            return TICKED
        if self.approver_ids:
            return WAITING
        return OPEN

    @property
    def others_awaited(self) -> tuple[int, ...]:
        """The deciders other than the one looking who have not approved."""
        return tuple(i for i in self.awaited_ids if i != self.seen_by)

    @property
    def waits_for_me(self) -> bool:
        """True when others approved and only this decider's tick is missing."""
        return self.mine is False and bool(self.approver_ids)

    @property
    def wanted(self) -> str:
        """The state a press of this cell's button asks for."""
        return WITHDRAW if self.mine else APPROVE


@dataclass(frozen=True)
class Row:
    member: Member
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Grid:
    household: Household
    sections: tuple[str, ...]
    rows: tuple[Row, ...]
    seen_by: int | None

    @property
    def decider_ids(self) -> tuple[int, ...]:
        return self.household.decider_ids


# (viewer, section) -> {approver: recorded_by}
Approvals = dict[tuple[int, str], dict[int, int | None]]

_APPROVALS_SQL = (
    "SELECT viewer_id, section, approver_id, recorded_by_id"
    " FROM approval WHERE student_id = ?"
)
_CELL_APPROVALS_SQL = (
    "SELECT viewer_id, section, approver_id, recorded_by_id"
    " FROM approval WHERE student_id = ? AND viewer_id = ? AND section = ?"
)


def _collect(rows: list[dict]) -> Approvals:
    given: Approvals = {}
    for row in rows:
        key = (row["viewer_id"], row["section"])
        given.setdefault(key, {})[row["approver_id"]] = row["recorded_by_id"]
    return given


def build_cell(
    household: Household,
    member: Member,
    section: str,
    given: dict[int, int | None],
    seen_by: int | None,
) -> Cell:
    """Lay out one cell; whether the person sees it is the rules' answer."""
    decider_ids = household.decider_ids
    pairs = [(approver, section) for approver in given]
    visible = section_visible(household.family, member.id, member.kind, section, pairs)
    mine = (seen_by in given) if seen_by in decider_ids else None
    return Cell(
        viewer_id=member.id,
        kind=member.kind,
        section=section,
        approver_ids=tuple(d for d in decider_ids if d in given),
        awaited_ids=tuple(d for d in decider_ids if d not in given),
        paper_ids=frozenset(
            d for d in decider_ids if d in given and given[d] is not None
        ),
        visible=visible,
        kept=household.kept_for_guardians(member.kind, section),
        mine=mine,
        seen_by=seen_by,
    )


async def load_grid(
    household: Household, seen_by: int | None, only: int | None = None
) -> Grid:
    """Return the grid as ``seen_by`` sees it, in one statement.

    ``only`` limits the rows to one person: what is shared with them.
    """
    given = _collect(await sql.fetch(_APPROVALS_SQL, household.student.id))
    sections = household.family.sections_in_use
    members = household.grantable()
    if only is not None:
        members = [m for m in members if m.id == only]
    rows = tuple(
        Row(
            member,
            tuple(
                build_cell(household, member, s, given.get((member.id, s), {}), seen_by)
                for s in sections
            ),
        )
        for member in members
    )
    return Grid(household, tuple(sections), rows, seen_by)


async def load_cell(
    household: Household, viewer_id: int, section: str, seen_by: int | None
) -> Cell:
    """Return one cell as it is in the database now, in one statement."""
    member = _grantable_member(household, viewer_id, section)
    rows = await sql.fetch(
        _CELL_APPROVALS_SQL, household.student.id, viewer_id, section
    )
    given = _collect(rows).get((viewer_id, section), {})
    return build_cell(household, member, section, given, seen_by)


def decides(family: Family, person_id: int) -> bool:
    """True when the person decides on sharing for this student now."""
    return person_id in deciders(family)


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class Change:
    """What one request did: whether it wrote anything, and the cell after."""

    changed: bool
    cell: Cell


def _grantable_member(household: Household, viewer_id: int, section: str) -> Member:
    if section not in household.family.sections_in_use:
        raise NotAllowed("section not in use")
    for member in household.grantable():
        if member.id == viewer_id:
            return member
    raise NotAllowed("not a person who can be given access")


_INSERT_APPROVAL = (
    "INSERT INTO approval (student_id, viewer_id, section, approver_id,"
    " recorded_by_id, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_DELETE_APPROVAL = (
    "DELETE FROM approval WHERE student_id = ? AND viewer_id = ? AND section = ?"
    " AND approver_id = ? RETURNING id"
)
_INSERT_LOG = (
    "INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def change_detail(viewer_id: int, approver_id: int, paper: bool) -> str:
    """Say in the log row whose approval changed for whom; ids only."""
    detail = f"viewer={viewer_id} approver={approver_id}"
    return detail + " paper" if paper else detail


def parse_detail(detail: str) -> dict[str, int | bool]:
    """Read back what ``change_detail`` wrote; anything else gives {}."""
    parsed: dict[str, int | bool] = {}
    for part in detail.split():
        key, _, value = part.partition("=")
        if key == "paper" and not value:
            parsed["paper"] = True
        elif key in ("viewer", "approver") and value.isdigit():
            parsed[key] = int(value)
    return parsed


async def log_change(
    *,
    at: datetime,
    actor_id: int,
    student_id: int,
    section: str,
    action: str,
    role: str,
    detail: str,
) -> None:
    """Write the access-log row of an approval change (inside its transaction)."""
    await sql.execute(
        _INSERT_LOG, at, actor_id, student_id, section, action, role, detail
    )


async def set_approval(
    household: Household,
    *,
    decider_id: int,
    viewer_id: int,
    section: str,
    wanted: str,
    actor_id: int,
    role: str,
    recorded_by_id: int | None = None,
    now: datetime | None = None,
) -> Change:
    """Bring one decider's approval to the wanted state, and log it if it changed.

    The request names the state it wants, never a toggle, so a repeat or a
    double click changes nothing and writes no log row. The approval and its
    log row commit together or not at all (SECURITY-BASELINE A40, R5).
    """
    if wanted not in WANTED_STATES:
        raise ValueError(f"wanted must be one of {WANTED_STATES}, not {wanted!r}")
    if not decides(household.family, decider_id):
        raise NotAllowed("not a decider")
    _grantable_member(household, viewer_id, section)
    now = now or utcnow()
    student_id = household.student.id

    try:
        async with in_transaction():
            if wanted == APPROVE:
                # ON CONFLICT: the unique constraint settles a race between two
                # requests; the loser inserts nothing and reports no change.
                written = await sql.fetch(
                    _INSERT_APPROVAL,
                    student_id,
                    viewer_id,
                    section,
                    decider_id,
                    recorded_by_id,
                    now,
                )
            else:
                written = await sql.fetch(
                    _DELETE_APPROVAL, student_id, viewer_id, section, decider_id
                )
            if written:
                await log_change(
                    at=now,
                    actor_id=actor_id,
                    student_id=student_id,
                    section=section,
                    action=wanted,
                    role=role,
                    detail=change_detail(
                        viewer_id, decider_id, recorded_by_id is not None
                    ),
                )
    except IntegrityError:
        # A person or student removed under our feet: nothing was written;
        # answer with what the database holds now.
        logger.warning(
            "approval change refused by the database student=%s viewer=%s",
            student_id,
            viewer_id,
        )
        written = []

    changed = bool(written)
    if changed:
        logger.info(
            "approval %s student=%s viewer=%s approver=%s",
            wanted,
            student_id,
            viewer_id,
            decider_id,
        )
    # Seen by the decider (or, for staff on paper, as that decider sees it).
    cell = await load_cell(household, viewer_id, section, decider_id)
    return Change(changed, cell)


# ---------------------------------------------------------------- the access log

LOG_PAGE_SIZE = 50


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    person_id: int | None
    person_name: str
    student_id: int
    student_name: str
    section: str
    action: str
    role: str
    # For a change of an approval: for whom, whose approval, given on paper.
    viewer_name: str = ""
    approver_name: str = ""
    paper: bool = False


@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _full_name(given: str | None, family: str | None) -> str:
    return f"{given or ''} {family or ''}".strip()


async def read_log(
    students,
    *,
    student_id: int | None = None,
    person_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    number: int = 1,
) -> LogPage:
    """Return one page of the access log, newest first, in two statements.

    ``students`` is a queryset of the students the reader may see (the
    access rules' answer); nothing of any other student is read.
    """
    query = AccessLog.filter(student_id__in=Subquery(students.values("id")))
    if student_id is not None:
        query = query.filter(student_id=student_id)
    if person_id is not None:
        query = query.filter(person_id=person_id)
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    rows = (
        await query.order_by("-at", "-id")
        .offset((number - 1) * LOG_PAGE_SIZE)
        .limit(LOG_PAGE_SIZE + 1)
        .values(
            "at",
            "section",
            "action",
            "role",
            "detail",
            "person_id",
            "student_id",
            "person__given_name",
            "person__family_name",
            "student__given_name",
            "student__family_name",
        )
    )
    rows = rows[: LOG_PAGE_SIZE + 1]
    details = {i: parse_detail(row["detail"]) for i, row in enumerate(rows)}
    named = {
        pid
        for detail in details.values()
        for key in ("viewer", "approver")
        if isinstance(pid := detail.get(key), int)
    }
    names = {}
    if named:
        people = await Person.filter(id__in=named).values(
            "id", "given_name", "family_name"
        )
        names = {p["id"]: _full_name(p["given_name"], p["family_name"]) for p in people}

    entries = []
    for i, row in enumerate(rows[:LOG_PAGE_SIZE]):
        detail = details[i]
        entries.append(
            LogEntry(
                at=sql.as_datetime(row["at"]),
                person_id=row["person_id"],
                person_name=_full_name(
                    row["person__given_name"], row["person__family_name"]
                ),
                student_id=row["student_id"],
                student_name=_full_name(
                    row["student__given_name"], row["student__family_name"]
                ),
                section=row["section"],
                action=row["action"],
                role=row["role"],
                viewer_name=names.get(detail.get("viewer"), ""),
                approver_name=names.get(detail.get("approver"), ""),
                paper=bool(detail.get("paper")),
            )
        )
    return LogPage(entries, number, len(rows) > LOG_PAGE_SIZE)


__all__ = [
    "APPROVE",
    "WITHDRAW",
    "Cell",
    "Change",
    "Grid",
    "Household",
    "Member",
    "NotAllowed",
    "build_cell",
    "decides",
    "load_cell",
    "load_grid",
    "load_household",
    "parse_detail",
    "read_log",
    "set_approval",
]
