"""The demo school that `inzage demo` creates."""

from __future__ import annotations

import re
import stat
from collections import Counter
from datetime import date

import pytest

from models import demo
from models.access import age_on, local_today, portal_view, turns_16_on, utcnow
from models.demo import ACCOUNTS_FILE, DEMO_CODE, ensure_demo, tiny_pdf
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    RECORD_SECTIONS,
    SECTION_MODELS,
    SECTIONS,
    SELF,
    Approval,
    Document,
    Person,
    Record,
    Relation,
    School,
    SchoolClass,
    Student,
)
from models.passwords import verify_password
from tests.factories import make_school, make_student

URL = "http://127.0.0.1:8000/"
PASSWORD = re.compile(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}")
POSTCODE_ADDRESS = re.compile(r".+ \d+, [1-9]\d{3} [A-Z]{2} [A-Z][a-z]+")


@pytest.fixture
def fast_hashing(monkeypatch):
    """Skip argon2 where a test is about the school, not about signing in."""

    async def stand_in(password: str) -> str:
        return f"not-a-hash:{len(password)}"

    monkeypatch.setattr(demo, "hash_password_async", stand_in)


async def _counts() -> dict[str, int]:
    models = [Student, Person, Relation, Approval, Record, SchoolClass]
    models += list(SECTION_MODELS.values())
    return {model.__name__: await model.all().count() for model in models}


async def _relations(kind: str) -> list[tuple[int, int]]:
    return await Relation.filter(
        kind=kind, student__school__code=DEMO_CODE
    ).values_list("person_id", "student_id")


def _pdf_is_well_formed(data: bytes) -> bool:
    """Check the header, the trailer and that every xref offset opens its object."""
    start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    table = data[start:].split(b"trailer", 1)[0].splitlines()[3:]
    offsets = [int(row.split()[0]) for row in table]
    return (
        data.startswith(b"%PDF-1.")
        and data.rstrip().endswith(b"%%EOF")
        and data[start:].startswith(b"xref")
        and all(
            data[offset:].startswith(b"%d 0 obj" % n)
            for n, offset in enumerate(offsets, 1)
        )
    )


async def test_demo_school_holds_every_kind_of_person_and_record(
    database, settings, fast_hashing
):
    accounts = await ensure_demo(settings)

    school = await School.get(code=DEMO_CODE)
    today = local_today(utcnow(), school.timezone)
    students = await Student.filter(school=school)
    ages = [age_on(s.birth_date, today) for s in students]
    assert school.timezone == "Europe/Amsterdam"
    assert school.sections_in_use() == list(SECTIONS)
    assert 20 <= len(students) <= 30
    assert min(ages) < 10 and any(age < 16 for age in ages)
    assert any(age >= 16 for age in ages)
    assert any(0 < (turns_16_on(s.birth_date) - today).days <= 30 for s in students)
    assert all(POSTCODE_ADDRESS.fullmatch(s.address) for s in students)
    assert all(s.phone.startswith("06-") for s in students)
    assert any(" " in s.family_name for s in students)  # "van der", "de", ...
    # The messages API names students by sourcedId (README's example).
    assert all(s.sourced_id == f"stu-{s.id}" for s in students)

    guardians = await _relations(GUARDIAN)
    per_student = Counter(student for _, student in guardians)
    per_guardian = Counter(person for person, _ in guardians)
    assert set(per_student.values()) == {1, 2}
    assert len(per_student) == len(students)
    assert 2 in per_guardian.values()
    assert await _relations(PARENT)
    assert len({person for person, _ in await _relations(CARER)}) >= 2
    selves = dict(await _relations(SELF))
    assert any(
        age_on(s.birth_date, today) >= 16 for s in students if s.id in selves.values()
    )

    never = await Person.filter(
        school=school, password_hash=None, relations__kind=GUARDIAN
    ).values_list("email", flat=True)
    assert [a.email for a in accounts.never_signed_in] == list(never)
    roles = await Person.filter(school=school).values_list("staff_role", flat=True)
    assert {"admin", "care", "mentor"} <= set(roles)
    classes = await SchoolClass.filter(school=school).prefetch_related("mentor")
    assert all(c.is_homeroom and c.mentor.staff_role == "mentor" for c in classes)
    assert {"Groep 5", "Groep 8", "2 havo", "4 vwo", "5 havo"} == {
        c.name for c in classes
    }
    emails = await Person.filter(school=school).values_list("email", flat=True)
    assert all(e == e.lower() and e.endswith("@demo.inzage.test") for e in emails)

    for student in students:
        for section, model in SECTION_MODELS.items():
            assert await model.filter(student=student).exists(), (student.id, section)
        for section in RECORD_SECTIONS:
            assert await Record.filter(student=student, section=section).exists()
    most_results = max(
        [await SECTION_MODELS["results"].filter(student=s).count() for s in students]
    )
    assert most_results > 50

    for document in await Document.filter(student__school=school):
        data = (settings.files_dir / document.storage_name).read_bytes()
        assert len(data) == document.size_bytes < 2000
        assert _pdf_is_well_formed(data)
        assert document.filename.endswith(".pdf")

    text = accounts.table(URL)
    assert URL in text and DEMO_CODE in text
    for account in accounts.accounts:
        assert account.email in text and account.password in text
    assert accounts.never_signed_in[0].email in text
    assert "Eerste keer inloggen" in text and "mail/" in text  # how they get in
    mode = (settings.data_dir / ACCOUNTS_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_reports_come_out_in_period_order_and_say_so(
    database, settings, fast_hashing
):
    """Found in a walkthrough: "Rapport periode 2" was dated before period 1."""
    await ensure_demo(settings)
    school = await School.get(code=DEMO_CODE)
    today = local_today(utcnow(), school.timezone)
    title = re.compile(r"Rapport periode ([123]), (\d{4})-(\d{4})")
    for student in await Student.filter(school=school):
        reports = await Record.filter(student=student, section="reports").order_by(
            "date"
        )
        assert 2 <= len(reports) <= 4
        seen = []
        for report in reports:
            period, first, last = title.fullmatch(report.title).groups()
            assert f"{first}-{last}" == demo.school_year(report.date)
            assert report.date <= today and report.date.weekday() < 5
            seen.append((first, period))
            assert "Kennismaking" not in report.body
            average = re.match(r"Gemiddeld cijfer (\d+,\d)\.", report.body).group(1)
            passing = float(average.replace(",", ".")) >= 6
            assert report.body.endswith(demo.REPORT_REMARKS[passing]), report.body
        assert seen == sorted(set(seen))  # each once, in the year's order


def test_report_days_follow_the_school_year():
    days = demo.report_days(date(2024, 9, 1), date(2025, 12, 4))
    assert [period for period, _ in days] == [1, 2, 3, 1]
    assert [day.isoformat() for _, day in days] == [
        "2024-11-28",
        "2025-03-06",
        "2025-07-03",
        "2025-11-28",
    ]
    # 28 November 2026 is a Saturday: the report comes out on the Friday.
    friday = date(2026, 11, 27)
    assert demo.report_days(date(2026, 9, 1), friday) == [(1, friday)]
    assert demo.report_days(date(2026, 9, 1), date(2026, 11, 26)) == []


async def test_demo_sharing_follows_the_access_rules(database, settings, fast_hashing):
    await ensure_demo(settings)
    now = utcnow()

    # The jeugdconsulent: both guardians shared absence and results, one
    # guardian tests; and a 16+ student shared absence.
    carer_links = await Relation.filter(
        kind=CARER, student__school__code=DEMO_CODE
    ).values_list("person_id", "student_id")
    seen = {link: (await portal_view(*link, now)).sections for link in carer_links}
    assert ("absence", "results") in seen.values()
    assert ("absence",) in seen.values()
    tests_once = await Approval.filter(
        section="tests", viewer_id__in=[p for p, _ in carer_links]
    )
    assert tests_once

    # A 16+ student shared results with one guardian.
    selves = await Relation.filter(kind=SELF, student__school__code=DEMO_CODE)
    shared = await Approval.filter(
        approver_id__in=[r.person_id for r in selves], section="results"
    ).first()
    view = await portal_view(shared.viewer_id, shared.student_id, now)
    assert view.kind == GUARDIAN
    assert "results" in view.sections and "care" not in view.sections

    # The parent without authority sees what the sole guardian shared.
    parent = await Relation.get(kind=PARENT, student__school__code=DEMO_CODE)
    view = await portal_view(parent.person_id, parent.student_id, now)
    assert view.sections == ("absence", "reports")


async def test_passwords_sign_in_and_a_second_call_changes_nothing(database, settings):
    first = await ensure_demo(settings)
    counts = await _counts()

    second = await ensure_demo(settings)

    assert second == first
    assert await _counts() == counts
    assert 8 <= len(first.accounts) <= 12
    for account in first.accounts:
        assert PASSWORD.fullmatch(account.password)
        person = await Person.get(school__code=DEMO_CODE, email=account.email)
        assert await verify_password(person.password_hash, account.password)


async def test_lost_accounts_file_is_said_not_guessed(database, settings, fast_hashing):
    await ensure_demo(settings)
    (settings.data_dir / ACCOUNTS_FILE).unlink()

    again = await ensure_demo(settings)

    assert again.passwords_lost
    assert all(account.password is None for account in again.accounts)
    assert "inzage demo --reset" in again.table(URL)


async def test_reset_starts_over_and_leaves_other_schools_alone(
    database, settings, fast_hashing
):
    other = await make_school("TEST")
    kid = await make_student(other)
    first = await ensure_demo(settings)
    old_files = [
        settings.files_dir / name
        for name in await Document.all().values_list("storage_name", flat=True)
    ]
    names = sorted(
        await Student.filter(school__code=DEMO_CODE).values_list(
            "given_name", flat=True
        )
    )
    counts = await _counts()

    second = await ensure_demo(settings, reset=True)

    assert await School.filter(code=DEMO_CODE).count() == 1
    assert await Student.exists(id=kid.id)
    assert await _counts() == counts
    assert (
        sorted(
            await Student.filter(school__code=DEMO_CODE).values_list(
                "given_name", flat=True
            )
        )
        == names
    )
    assert [a.email for a in second.accounts] == [a.email for a in first.accounts]
    assert {a.password for a in second.accounts}.isdisjoint(
        a.password for a in first.accounts
    )
    assert not any(path.exists() for path in old_files)
    for name in await Document.all().values_list("storage_name", flat=True):
        assert (settings.files_dir / name).is_file()


async def test_a_failure_half_way_leaves_no_demo_behind(
    database, settings, fast_hashing, monkeypatch
):
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    files_before = set(settings.files_dir.iterdir())
    fill = demo._fill_sections
    calls = []

    async def fail_on_third_student(*args):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        await fill(*args)

    monkeypatch.setattr(demo, "_fill_sections", fail_on_third_student)

    with pytest.raises(RuntimeError, match="disk full"):
        await ensure_demo(settings)

    assert not await School.exists(code=DEMO_CODE)
    assert await Person.all().count() == 0
    assert set(settings.files_dir.iterdir()) == files_before


def test_tiny_pdf_escapes_its_text():
    data = tiny_pdf(["Rapport (concept) \\ groep 8", "Zoë"])

    assert b"(Rapport \\(concept\\) \\\\ groep 8) Tj" in data
    assert "Zoë".encode("cp1252") in data
    assert _pdf_is_well_formed(data)
