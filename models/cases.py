"""Check a table of worked access cases against the real rule code.

Each row of a case table (format: ``shared/cases/README.md``) is built as a
small scenario in a throw-away SQLite database, and ``models.access``
is asked, through the same ``portal_view`` the portal uses, whether the
viewer sees the section. The portal's own database is never touched.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, get_current_context

from models.access import PortalView, deciders, local_today, portal_view
from models.db import migrate_database, tortoise_config
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SECTIONS,
    SELF,
    Approval,
    Person,
    Relation,
    School,
    Student,
)
from models.settings import sqlite_url

CASE_TIMEZONE = "Europe/Amsterdam"
COLUMNS: tuple[str, ...] = (
    "id",
    "born",
    "now_utc",
    "guardians",
    "viewer",
    "section",
    "approvals",
    "visible",
)
# The fixed names a row may use besides its guardians, and their relation.
KIND_OF_NAME: dict[str, str] = {"student": SELF, "parent": PARENT, "carer": CARER}
VISIBLE_VALUES: dict[str, bool] = {"yes": True, "no": False}

_GUARDIAN_NAME = re.compile(r"g[1-9][0-9]*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidCase(ValueError):
    """Raised for a row that does not describe a case; the message says why."""


@dataclass(frozen=True)
class Case:
    """One row of a case table, checked for form."""

    id: str
    born: date | None
    now_utc: datetime
    guardians: tuple[str, ...]
    viewer: str
    section: str
    approvals: tuple[tuple[str, str, str], ...]
    visible: bool
    why: str = ""

    def persons(self) -> list[str]:
        """Return every person the row names: its guardians, then the others."""
        named = [self.viewer]
        for approver, viewer, _ in self.approvals:
            named += [approver, viewer]
        others = [name for name in KIND_OF_NAME if name in named]
        return [*self.guardians, *others]

    def kind_of(self, name: str) -> str:
        return GUARDIAN if name in self.guardians else KIND_OF_NAME[name]


# ---------------------------------------------------------------- parsing


def _parse_born(text: str) -> date | None:
    # An empty cell is a student without a date of birth on record, a case
    # SPEC.md section 4 covers (shown to staff only).
    if not text:
        return None
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidCase(
            f"born {text!r} is not a date; write it as YYYY-MM-DD."
        ) from None


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidCase(
            f"now_utc {text!r} is not a moment in UTC; write it as "
            "YYYY-MM-DDTHH:MM:SSZ."
        )
    return moment.astimezone(UTC)


def _parse_guardians(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(";")] if text else []
    for name in names:
        if not _GUARDIAN_NAME.fullmatch(name):
            raise InvalidCase(
                f"guardian {name!r} is not a guardian name; use g1, g2, ..."
            )
    if len(set(names)) != len(names):
        raise InvalidCase(f"guardians {text!r} names a guardian twice.")
    return tuple(names)


def _check_name(role: str, name: str, guardians: tuple[str, ...]) -> str:
    if name in guardians or name in KIND_OF_NAME:
        return name
    listed = ";".join(guardians) or "none"
    raise InvalidCase(
        f"{role} {name!r} is not among the guardians ({listed}), "
        "student, parent or carer."
    )


def _check_section(text: str) -> str:
    if text not in SECTIONS:
        raise InvalidCase(
            f"section {text!r} is unknown; use one of {', '.join(SECTIONS)}."
        )
    return text


def _parse_approvals(
    text: str, guardians: tuple[str, ...]
) -> tuple[tuple[str, str, str], ...]:
    entries = [entry.strip() for entry in text.split(";")] if text else []
    approvals = []
    for entry in entries:
        parts = [part.strip() for part in entry.split(">")]
        if len(parts) != 3:
            raise InvalidCase(
                f"approval {entry!r} is not of the form approver>viewer>section."
            )
        approver, viewer, section = parts
        approvals.append(
            (
                _check_name("approver", approver, guardians),
                _check_name("viewer", viewer, guardians),
                _check_section(section),
            )
        )
    if len(set(approvals)) != len(approvals):
        raise InvalidCase(f"approvals {text!r} lists an approval twice.")
    return tuple(approvals)


def parse_case(row: dict[str | None, str | list[str] | None], label: str) -> Case:
    """Check one row of a case table for form and return it as a Case."""
    if row.get(None):
        raise InvalidCase("the row has more cells than the header has columns.")
    missing = [column for column in COLUMNS if row.get(column) is None]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise InvalidCase(f"missing {noun}: {', '.join(missing)}.")
    cell = {column: str(row[column]).strip() for column in COLUMNS}

    if not cell["id"]:
        raise InvalidCase("the id is empty.")
    guardians = _parse_guardians(cell["guardians"])
    visible = VISIBLE_VALUES.get(cell["visible"].lower())
    if visible is None:
        raise InvalidCase(f"visible {cell['visible']!r} is not yes or no.")
    case = Case(
        id=label,
        born=_parse_born(cell["born"]),
        now_utc=_parse_now(cell["now_utc"]),
        guardians=guardians,
        viewer=_check_name("viewer", cell["viewer"], guardians),
        section=_check_section(cell["section"]),
        approvals=_parse_approvals(cell["approvals"], guardians),
        visible=visible,
        # "why" is for people; a table without the column is still valid.
        why=str(row.get("why") or "").strip(),
    )
    if case.born is not None and case.born > case.now_utc.date():
        raise InvalidCase("born is later than now_utc.")
    return case


def read_rows(path: Path) -> Iterator[tuple[str, Case | InvalidCase]]:
    """Yield each row's label with its Case, or the reason it is invalid."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            label = str(row.get("id") or "").strip() or f"line {reader.line_num}"
            try:
                yield label, parse_case(row, label)
            except InvalidCase as invalid:
                yield label, invalid


# ---------------------------------------------------------------- checking


async def _build(case: Case) -> tuple[dict[str, Person], Student]:
    """Create the row's school, student, persons, links and approvals."""
    school = await School.create(
        code="CASES",
        name="Case school",
        timezone=CASE_TIMEZONE,
        sections=list(SECTIONS),
        guardian_sections_until_18=[],
    )
    student = await Student.create(
        school=school, given_name="Case", family_name="Student", birth_date=case.born
    )
    people: dict[str, Person] = {}
    for name in case.persons():
        person = await Person.create(
            school=school, email=f"{name}@cases.inzage.test", given_name=name
        )
        await Relation.create(
            person=person, student=student, kind=case.kind_of(name), authorised=True
        )
        people[name] = person
    for approver, viewer, section in case.approvals:
        await Approval.create(
            student=student,
            approver=people[approver],
            viewer=people[viewer],
            section=section,
        )
    return people, student


def _explain(case: Case, view: PortalView | None, people: dict[str, Person]) -> str:
    """Say what the rule code saw, so a failing row can be understood."""
    if view is None:
        return "the viewer is not linked to the student"
    name_of = {person.id: name for name, person in people.items()}
    today = local_today(case.now_utc, CASE_TIMEZONE)
    if view.family.age is None:
        age = "no date of birth on record"
    else:
        age = f"age {view.family.age} on {today} in {CASE_TIMEZONE}"
    decider_names = sorted(name_of[pid] for pid in deciders(view.family)) or ["none"]
    approvers = [
        approver
        for approver, viewer, section in case.approvals
        if viewer == case.viewer and section == case.section
    ] or ["nobody"]
    return (
        f"{age}; viewer {case.viewer} ({view.kind}); "
        f"deciders {', '.join(decider_names)}; "
        f"{case.section} approved for {case.viewer} by {', '.join(approvers)}"
    )


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


async def check_case(case: Case) -> tuple[bool, str]:
    """Build the case and ask the real code path; return (passed, detail)."""
    people, student = await _build(case)
    view = await portal_view(people[case.viewer].id, student.id, case.now_utc)
    seen = view is not None and view.sees(case.section)
    if seen == case.visible:
        return True, ""
    return False, (
        f"expected {_yes_no(case.visible)}, got {_yes_no(seen)} "
        f"({_explain(case, view, people)})"
    )


async def _empty_tables() -> None:
    # _build writes only these; children first, so no foreign key objects.
    for model in (Approval, Relation, Student, Person, School):
        await model.all().delete()


@contextmanager
def _models_for_nested_context() -> Iterator[None]:
    """Keep the model classes' shared SQL state right for each context.

    Tortoise keeps some SQL on the model classes, for every context of the
    process: base queries in the dialect of the context initialised last, and
    insert statements cached by connection name ("default" in both). Inside
    another context (the test suite on PostgreSQL) that SQL would be written
    for the wrong database, so clear it on the way in and rebuild it for the
    outer context on the way out.
    """
    EXECUTOR_CACHE.clear()
    try:
        yield
    finally:
        EXECUTOR_CACHE.clear()
        outer = get_current_context()
        if outer is not None and outer.inited and outer.apps is not None:
            outer.apps._build_initial_querysets()


async def _check_rows(
    rows: list[tuple[str, Case | InvalidCase]], db_url: str, out: TextIO
) -> Counter[str]:
    """Check the rows in a throw-away database; count passed, failed, invalid."""
    counts: Counter[str] = Counter()
    async with TortoiseContext() as ctx:
        await migrate_database(db_url)
        await ctx.init(config=tortoise_config(db_url))
        for label, case in rows:
            if isinstance(case, InvalidCase):
                counts["invalid"] += 1
                print(f"INVALID {label}: {case}", file=out)
                continue
            await _empty_tables()
            passed, detail = await check_case(case)
            counts["passed" if passed else "failed"] += 1
            why = f" ({case.why})" if case.why else ""
            if passed:
                print(f"PASS {label}{why}", file=out)
            else:
                print(f"FAIL {label}: {detail}", file=out)
    return counts


async def run_case_table(path: Path, out: TextIO) -> int:
    """Check every row of a case table; return 0 when all of them pass."""
    try:
        rows = list(read_rows(path))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        print(f"Cannot read the case table {path}: {error}", file=out)
        return 2

    with (
        _models_for_nested_context(),
        tempfile.TemporaryDirectory(prefix="inzage-cases-") as folder,
    ):
        db_url = sqlite_url(Path(folder) / "cases.sqlite3")
        counts = await _check_rows(rows, db_url, out)

    if not rows:
        print(f"The case table {path} has no rows.", file=out)
    summary = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["invalid"]:
        summary += f", {counts['invalid']} invalid"
    print(summary, file=out)
    # An empty table checks nothing, so it is no success either.
    return 0 if rows and counts["passed"] == len(rows) else 1
