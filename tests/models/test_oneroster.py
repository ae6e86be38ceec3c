"""The OneRoster importer against the shared sample bundles and our fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

from models.entities import (
    Enrollment,
    Person,
    Relation,
    Result,
    School,
    SchoolClass,
    Student,
)
from models.oneroster import ImportFailed, import_bundle
from tests.conftest import shared_dir

SHARED = shared_dir() / "oneroster"
EDFI_11 = SHARED / "edfi-lms-toolkit" / "v1.1"
EDFI_10 = SHARED / "edfi-lms-toolkit" / "v1.0-no-manifest"
EMPTY = SHARED / "nicelion-oneroster-mocker" / "classlink-empty-templates"
NICELION_USERS = SHARED / "nicelion-oneroster-mocker" / "outputs" / "test-csv.csv"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "oneroster"
REPO = Path(__file__).parents[2]

MODELS = (School, Person, Student, SchoolClass, Enrollment, Relation, Result)


async def dump() -> dict[str, list[dict]]:
    """Return every row of every table the importer writes."""
    return {
        model.__name__: sorted(await model.all().values(), key=lambda row: row["id"])
        for model in MODELS
    }


def copy_bundle(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def nicelion_bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "nicelion"
    folder.mkdir()
    shutil.copy(NICELION_USERS, folder / "users.csv")
    return folder


async def person(sid: str) -> Person:
    return await Person.get(sourced_id=sid)


# -- the shared samples ------------------------------------------------------


@pytest.mark.parametrize("bundle", [EDFI_11, EDFI_10], ids=["v1.1", "v1.0"])
async def test_edfi_bundles_import(database, bundle):
    report = await import_bundle(bundle, "GB")

    school = await School.get(code="GB")
    assert school.name == "Grand Bend High School"
    assert await Student.filter(school=school).count() == 8
    assert await Student.filter(birth_date__isnull=True).count() == 0
    mary = await Student.get(sourced_id="604863")
    assert (mary.given_name, mary.birth_date) == ("Mary", date(1997, 5, 30))
    assert await Person.filter(school=school).count() == 10
    assert await Person.filter(staff_role="mentor").count() == 2
    assert await Relation.filter(kind="self", from_import=True).count() == 8
    assert await Relation.exclude(kind="self").count() == 0
    assert await SchoolClass.filter(school=school).count() == 2
    assert await SchoolClass.filter(is_homeroom=True).count() == 0
    assert await Enrollment.filter(school=school, active=True).count() == 24
    own = await person("604863")
    assert (own.email, own.can_sign_in) == ("mary.archer@studentgps.org", True)
    assert report.added == 8 + 10 + 8 + 2 + 24
    assert report.lines()[-1] == "Added 52, changed 0, unchanged 0, skipped 0."
    # Valid, yet nobody on the staff side would see anyone: the report says so.
    assert report.notes == [
        "8 student(s) have no homeroom class: no mentor sees them.",
        "2 teacher(s) mentor no homeroom class: they see no students.",
        "8 student(s) have no guardian linked.",
        "The school has no administrator: add one with inzage add-staff "
        "--school GB --email ADDRESS --role admin.",
    ]
    assert "Note: 8 student(s) have no guardian linked." in report.lines()


async def test_zipped_bundle_imports(database, tmp_path):
    archive = tmp_path / "edfi.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in EDFI_11.glob("*.csv"):
            zipped.write(file, file.name)

    await import_bundle(archive, "GB")

    assert await Student.all().count() == 8
    assert await Enrollment.all().count() == 24


async def test_header_only_bundle_adds_nothing_and_says_so(database):
    report = await import_bundle(EMPTY, "EMPTY")

    assert await School.all().count() == 0
    for model in MODELS[1:]:
        assert await model.all().count() == 0
    assert any("nothing was added" in line for line in report.lines())
    assert report.lines()[-1] == "Added 0, changed 0, unchanged 0, skipped 0."


async def test_nicelion_users_and_parent_links_all_arrive(database, tmp_path):
    report = await import_bundle(nicelion_bundle(tmp_path), "NL")

    assert await Person.all().count() == 1999
    assert await Student.all().count() == 1187
    assert await Person.filter(oneroster_role="parent").count() == 812
    assert await Relation.filter(kind="guardian", active=True).count() == 2390
    assert await Relation.filter(kind="self").count() == 1187
    assert await Relation.filter(authorised=False).count() == 0
    assert await Person.filter(can_sign_in=False, email__isnull=True).count() == 2
    lines = report.lines()
    assert "users.csv line 2: organisation slksldkmlsk49303 is not in the bundle" in (
        "\n".join(lines)
    )
    assert sum("already taken" in line for line in lines) == 2


async def test_links_can_be_imported_unauthorised(database, tmp_path):
    await import_bundle(nicelion_bundle(tmp_path), "NL", authorise_links=False)

    assert await Relation.filter(kind="guardian", authorised=True).count() == 0
    assert await Relation.filter(kind="self", authorised=True).count() == 1187


# -- idempotence and atomicity ------------------------------------------------


@pytest.mark.parametrize(
    "bundle",
    [EDFI_11, EDFI_10, FIXTURES / "v1.2-roles", FIXTURES / "gradebook"],
    ids=["v1.1", "v1.0", "v1.2", "gradebook"],
)
async def test_second_import_changes_nothing(database, bundle):
    first = await import_bundle(bundle, "S")
    before = await dump()

    second = await import_bundle(bundle, "S")

    assert await dump() == before
    assert (second.added, second.changed) == (0, 0)
    assert second.unchanged == first.added
    assert "Nothing changed" in "\n".join(second.lines())


async def test_second_nicelion_import_changes_nothing(database, tmp_path):
    bundle = nicelion_bundle(tmp_path)
    await import_bundle(bundle, "NL")
    before = await dump()

    second = await import_bundle(bundle, "NL")

    assert await dump() == before
    assert (second.added, second.changed) == (0, 0)


BROKEN = [
    (
        "demographics.csv",
        "604863,,,1997-05-30",
        "604863,,,2010-02-30",
        "demographics.csv line 2: birthDate '2010-02-30' is not a date",
    ),
    (
        "users.csv",
        ",givenName,",
        ",firstName,",
        "users.csv line 1: the required column givenName is missing",
    ),
    (
        "users.csv",
        ",familyName,middleName,",
        ",familyName,familyName,",
        "users.csv line 1: the required column familyName appears twice",
    ),
    (
        "enrollments.csv",
        "D43AAE29-B248-4CF1-AE68-9F326DBCC7E8",
        "8622A96A-9287-4BAA-BD1F-3DB11A74524E",
        "enrollments.csv line 4: sourcedId 8622A96A-9287-4BAA-BD1F-3DB11A74524E "
        "appears twice (also on line 3)",
    ),
    (
        "users.csv",
        "604874,,,true,",
        "604874,,,yes,",
        "users.csv line 3: enabledUser 'yes' is not true or false",
    ),
    (
        "academicSessions.csv",
        ",2020-08-17,2020-12-18,",
        ",08/17/2020,2020-12-18,",
        "academicSessions.csv line 3: startDate '08/17/2020' is not a date",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    BROKEN,
    ids=[
        "bad-date",
        "missing-column",
        "duplicate-column",
        "duplicate-id",
        "bad-boolean",
        "ambiguous-date",
    ],
)
async def test_broken_bundle_fails_and_changes_nothing(
    database, tmp_path, file, old, new, expected
):
    await import_bundle(EDFI_11, "GB")
    before = await dump()
    bundle = copy_bundle(EDFI_11, tmp_path)
    edit(bundle / file, old, new)

    with pytest.raises(ImportFailed) as failed:
        await import_bundle(bundle, "GB")

    assert any(line.startswith(expected) for line in failed.value.lines())
    assert await dump() == before


async def test_file_that_is_not_utf8_fails_and_changes_nothing(database, tmp_path):
    await import_bundle(EDFI_11, "GB")
    before = await dump()
    bundle = copy_bundle(EDFI_11, tmp_path)
    users = bundle / "users.csv"
    users.write_bytes(users.read_bytes().replace(b"Kyle", "Kylé".encode("latin-1")))

    with pytest.raises(ImportFailed) as failed:
        await import_bundle(bundle, "GB")

    assert failed.value.lines() == [
        "users.csv line 3: is not valid UTF-8; save the file as UTF-8"
    ]
    assert await dump() == before


async def test_bom_crlf_and_quoted_commas_are_read(database, tmp_path):
    bundle = copy_bundle(FIXTURES / "gradebook", tmp_path)
    classes = bundle / "classes.csv"
    text = classes.read_text(encoding="utf-8").replace("\n", "\r\n").rstrip()
    classes.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))

    await import_bundle(bundle, "CL")

    assert await SchoolClass.get(sourced_id="cls-nl").values_list("name", flat=True)
    assert (await SchoolClass.get(sourced_id="cls-nl")).name == "Nederlands, 3H"


# -- rows that are skipped or reported ----------------------------------------


async def test_dangling_guardian_link_is_skipped_and_reported(database, tmp_path):
    bundle = copy_bundle(FIXTURES / "delta-base", tmp_path)
    edit(bundle / "users.csv", ",,,gdn-b,08,", ',,,"gdn-b,gdn-zz",08,')

    report = await import_bundle(bundle, "DD")

    assert (
        "users.csv line 3: agent gdn-zz is in neither the bundle nor the database; "
        "link skipped"
    ) in report.lines()
    mo = await Student.get(sourced_id="stu-b")
    assert await Relation.filter(student=mo, kind="guardian").count() == 1
    assert report.skipped == 1


async def test_users_of_an_unknown_org_go_to_the_school(database, tmp_path):
    bundle = copy_bundle(FIXTURES / "delta-base", tmp_path)
    edit(bundle / "users.csv", "stu-b,,,true,org-s,", "stu-b,,,true,org-elders,")

    report = await import_bundle(bundle, "DD")

    school = await School.get(code="DD")
    assert (await Student.get(sourced_id="stu-b")).school_id == school.id
    assert (
        "users.csv line 3: organisation org-elders is not in the bundle; its 1 row(s) "
        "were placed in school DD"
    ) in report.lines()


async def test_taken_email_gives_a_person_without_sign_in(database, tmp_path):
    bundle = copy_bundle(FIXTURES / "delta-base", tmp_path)
    edit(bundle / "users.csv", "yusuf@home.test", " Karin@HOME.test ")

    report = await import_bundle(bundle, "DD")

    karin, yusuf = await person("gdn-a"), await person("gdn-b")
    assert (karin.email, karin.can_sign_in) == ("karin@home.test", True)
    assert (yusuf.email, yusuf.can_sign_in) == (None, False)
    assert (
        "users.csv line 5: the e-mail address is already taken in this school; "
        "imported without sign-in"
    ) in report.lines()


async def test_email_taken_by_a_staff_created_person(database):
    school = await School.create(code="GB", name="Grand Bend", sections=[])
    await Person.create(school=school, email="Mary.Archer@studentgps.org")

    await import_bundle(EDFI_11, "GB")

    mary = await person("604863")
    assert (mary.email, mary.can_sign_in) == (None, False)


async def test_role_outside_the_vocabulary_is_skipped(database, tmp_path):
    bundle = copy_bundle(EDFI_11, tmp_path)
    edit(
        bundle / "users.csv",
        "207270,,,true,255901001,teacher,",
        "207270,,,true,255901001,principal,",
    )

    report = await import_bundle(bundle, "GB")

    assert not await Person.filter(sourced_id="207270").exists()
    assert report.lines()[0].startswith("users.csv line 10: role 'principal'")
    assert any("enrollments.csv line" in line for line in report.lines())


# -- OneRoster 1.2 roles, deltas and the gradebook ------------------------------


async def test_v12_roles_map_to_staff_roles_and_relations(database):
    report = await import_bundle(FIXTURES / "v1.2-roles", "NL01")

    staff = {p.sourced_id: p.staff_role for p in await Person.all()}
    assert staff == {
        "stu-1": None,
        "stu-2": None,
        "gdn-1": None,
        "par-1": None,
        "rel-1": None,
        "tch-1": "mentor",
        "adm-1": "admin",
        "adm-2": "admin",
        "adm-3": "admin",
        "cns-1": "care",
        "aid-1": None,
        "prc-1": None,
        "ext-1": None,
    }
    assert (
        "roles.csv line 16: role 'headmaster' is not a OneRoster 1.2 role; "
        "row skipped" in report.lines()
    )
    assert "users.csv line 15: the user has no valid role; row skipped" in (
        report.lines()
    )
    kinds = {
        (r.person.sourced_id, r.student.sourced_id): r.kind
        for r in await Relation.all().prefetch_related("person", "student")
    }
    assert kinds == {
        ("stu-1", "stu-1"): "self",
        ("stu-2", "stu-2"): "self",
        ("gdn-1", "stu-2"): "guardian",
        ("tch-1", "stu-2"): "guardian",
        ("par-1", "stu-1"): "guardian",
        ("rel-1", "stu-1"): "parent",
    }
    homeroom = await SchoolClass.get(sourced_id="cls-hr").prefetch_related("mentor")
    assert homeroom.is_homeroom and homeroom.mentor.sourced_id == "tch-1"
    assert (await SchoolClass.get(sourced_id="cls-ma")).mentor_id is None
    for student in await Student.all():
        assert student.homeroom_id == homeroom.id
    assert (await Student.get(sourced_id="stu-2")).birth_date == date(2012, 11, 30)
    assert (await person("tch-1")).oneroster_role == "teacher"
    coach = await person("ext-1")
    assert (coach.oneroster_role, coach.can_sign_in) == ("ext:coach", False)
    assert (await School.get(code="NL01")).name == "Het Noorderlicht"
    # A school with its homeroom mentored, guardians and admins: nothing to say.
    assert report.notes == []


async def test_delta_updates_inserts_and_deactivates(database):
    await import_bundle(FIXTURES / "delta-base", "DD")
    hr = await SchoolClass.get(sourced_id="hr-1").prefetch_related("mentor")
    assert hr.mentor.sourced_id == "tch-a"
    assert (await Student.get(sourced_id="stu-b")).homeroom_id == hr.id

    report = await import_bundle(FIXTURES / "delta-update", "DD")

    lisa = await Student.get(sourced_id="stu-a")
    assert (lisa.family_name, lisa.birth_date) == ("Bakker-Smit", date(2011, 6, 16))
    assert (await person("stu-a")).family_name == "Bakker-Smit"
    yusuf = await person("gdn-b")
    assert yusuf.active is False
    assert await Person.filter(sourced_id="gdn-b").exists()
    link = await Relation.get(person=yusuf)
    assert link.active is False
    mo = await Student.get(sourced_id="stu-b")
    assert mo.active is True and mo.homeroom_id is None
    assert (await Enrollment.get(sourced_id="enr-2")).active is False
    noor = await Student.get(sourced_id="stu-c")
    assert noor.homeroom_id == hr.id
    karin = await person("gdn-a")
    assert await Relation.filter(person=karin, active=True).count() == 2
    assert await Relation.filter(person=karin, student=noor, authorised=True).exists()
    assert (await person("tch-a")).active is True
    assert report.lines()[-1] == "Added 5, changed 6, unchanged 2, skipped 0."


async def test_bulk_file_deactivates_what_it_no_longer_lists(database, tmp_path):
    await import_bundle(FIXTURES / "delta-base", "DD")
    bundle = copy_bundle(FIXTURES / "delta-base", tmp_path)
    users = bundle / "users.csv"
    lines = users.read_text(encoding="utf-8").splitlines(keepends=True)
    users.write_text("".join(line for line in lines if "gdn-b" not in line[:6]))
    edit(users, ",,,gdn-b,08,", ",,,,08,")

    await import_bundle(bundle, "DD")

    assert (await person("gdn-b")).active is False
    assert (await Relation.get(person__sourced_id="gdn-b")).active is False
    assert await Person.filter(active=True).count() == 4


async def test_gradebook_results(database):
    report = await import_bundle(FIXTURES / "gradebook", "CL")

    results = {r.sourced_id: r for r in await Result.all().prefetch_related("student")}
    assert set(results) == {"r-1", "r-2", "r-3"}
    first = results["r-1"]
    assert first.student.sourced_id == "stu-1"
    assert (first.subject, first.title, first.period) == (
        "Engels 3H",
        "Unit 3 test",
        "Periode 1",
    )
    assert (first.score, first.date, first.comment) == (
        "7.5",
        date(2024, 10, 9),
        "Goed gedaan, Finn",
    )
    assert first.line_item_sourced_id == "li-1"
    third = results["r-3"]
    assert (third.subject, third.title, third.date) == (
        "Nederlands, 3H",
        'Leesverslag "Het gouden ei"',
        date(2024, 12, 2),
    )
    assert third.period == "Periode 2"
    lines = report.lines()
    assert lines[:3] == [
        "lineItems.csv line 4: class cls-xx is in neither the bundle nor the "
        "database; row skipped",
        "results.csv line 5: line item li-3 is in neither the bundle nor the "
        "database; row skipped",
        "results.csv line 6: student stu-9 is in neither the bundle nor the "
        "database; row skipped",
    ]


async def results_state() -> dict[str, bool]:
    return dict(await Result.all().values_list("sourced_id", "active"))


def drop_line(path: Path, start: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(start)]
    assert len(kept) == len(lines) - 1
    path.write_text("".join(kept), encoding="utf-8")


def gradebook_without_r1(tmp_path: Path) -> Path:
    bundle = copy_bundle(FIXTURES / "gradebook", tmp_path)
    drop_line(bundle / "results.csv", "r-1,")
    return bundle


async def test_delta_tobedeleted_withdraws_results(database):
    await import_bundle(FIXTURES / "gradebook", "CL")

    report = await import_bundle(FIXTURES / "gradebook-delta", "CL")

    # r-2 is marked tobedeleted; r-3 belongs to the withdrawn line item li-2;
    # r-9 was never imported, so withdrawing it adds nothing.
    assert await results_state() == {"r-1": True, "r-2": False, "r-3": False}
    # The notes on what the school lacks are tested with the shared samples.
    assert [line for line in report.lines() if not line.startswith("Note: ")] == [
        "results.csv line 1: 1 result(s) marked tobedeleted are withdrawn; "
        "they are no longer shown",
        "lineItems.csv line 2: line item li-2 is withdrawn; 1 of its result(s) "
        "are withdrawn with it and no longer shown",
        "results: added 0, changed 2, unchanged 0",
        "Added 0, changed 2, unchanged 0, skipped 0.",
    ]
    assert not any("cannot be withdrawn" in line for line in report.lines())
    withdrawn = await Result.get(sourced_id="r-2")
    assert (withdrawn.score, withdrawn.subject) == ("6.8", "Engels 3H")


async def test_bulk_file_withdraws_results_it_no_longer_lists(database, tmp_path):
    await import_bundle(FIXTURES / "gradebook", "CL")

    report = await import_bundle(gradebook_without_r1(tmp_path), "CL")

    assert await results_state() == {"r-1": False, "r-2": True, "r-3": True}
    assert (
        "results.csv line 1: 1 earlier result(s) are missing from this bulk file; "
        "they are withdrawn and no longer shown"
    ) in report.lines()
    assert "results: added 0, changed 1, unchanged 2" in report.lines()


async def test_bulk_file_withdraws_results_of_a_line_item_it_drops(database, tmp_path):
    await import_bundle(FIXTURES / "gradebook", "CL")
    bundle = copy_bundle(FIXTURES / "gradebook", tmp_path)
    drop_line(bundle / "lineItems.csv", "li-2,")

    report = await import_bundle(bundle, "CL")

    assert await results_state() == {"r-1": True, "r-2": True, "r-3": False}
    assert (
        "lineItems.csv line 1: line item li-2 is missing from this bulk file; "
        "1 of its result(s) are withdrawn with it and no longer shown"
    ) in report.lines()


async def test_withdrawn_results_return_when_they_reappear(database, tmp_path):
    await import_bundle(FIXTURES / "gradebook", "CL")
    await import_bundle(gradebook_without_r1(tmp_path / "bulk"), "CL")
    await import_bundle(FIXTURES / "gradebook-delta", "CL")
    assert await results_state() == {"r-1": False, "r-2": False, "r-3": False}
    delta = copy_bundle(FIXTURES / "gradebook-delta", tmp_path / "delta")
    edit(delta / "lineItems.csv", "li-2,tobedeleted,", "li-2,active,")
    edit(delta / "results.csv", "r-2,tobedeleted,", "r-2,active,")

    in_delta = await import_bundle(delta, "CL")

    # A delta row marked active brings r-2 back; r-1 and r-3 have no row.
    assert await results_state() == {"r-1": False, "r-2": True, "r-3": False}
    assert "results: added 0, changed 1, unchanged 1" in in_delta.lines()

    in_bulk = await import_bundle(FIXTURES / "gradebook", "CL")

    assert await results_state() == {"r-1": True, "r-2": True, "r-3": True}
    assert "results: added 0, changed 2, unchanged 1" in in_bulk.lines()
    assert await Result.all().count() == 3


@pytest.mark.parametrize("withdrawal", ["delta", "bulk"])
async def test_second_withdrawal_changes_nothing(database, tmp_path, withdrawal):
    await import_bundle(FIXTURES / "gradebook", "CL")
    if withdrawal == "delta":
        bundle = FIXTURES / "gradebook-delta"
    else:
        bundle = gradebook_without_r1(tmp_path)
    await import_bundle(bundle, "CL")
    assert False in (await results_state()).values()
    before = await dump()

    second = await import_bundle(bundle, "CL")

    assert await dump() == before
    assert (second.added, second.changed) == (0, 0)
    assert "Nothing changed" in "\n".join(second.lines())
    assert not any("earlier result(s)" in line for line in second.lines())
    assert not any("marked tobedeleted" in line for line in second.lines())


# -- staff edits -----------------------------------------------------------------


async def test_staff_edits_survive_a_reimport(database, tmp_path):
    await import_bundle(FIXTURES / "delta-base", "DD")
    karin = await person("gdn-a")
    karin.given_name, karin.staff_locked = "Karina", ["given_name"]
    await karin.save()
    lisa = await Student.get(sourced_id="stu-a")
    lisa.birth_date, lisa.staff_locked = date(2011, 1, 1), ["birth_date"]
    await lisa.save()
    hr = await SchoolClass.get(sourced_id="hr-1")
    hr.name, hr.staff_locked = "2B Bakker", ["name"]
    await hr.save()
    link = await Relation.get(person=karin)
    link.kind, link.staff_locked = "parent", ["kind"]
    await link.save()
    school = await School.get(code="DD")
    hand_made = await Person.create(school=school, given_name="Hand", email=None)
    bundle = copy_bundle(FIXTURES / "delta-base", tmp_path)
    edit(bundle / "users.csv", "Karin,Bakker", "Carin,Bakker-de Wit")

    await import_bundle(bundle, "DD")

    karin = await person("gdn-a")
    assert (karin.given_name, karin.family_name) == ("Karina", "Bakker-de Wit")
    assert (await Student.get(sourced_id="stu-a")).birth_date == date(2011, 1, 1)
    assert (await SchoolClass.get(sourced_id="hr-1")).name == "2B Bakker"
    assert (await Relation.get(person=karin)).kind == "parent"
    hand_made = await Person.get(id=hand_made.id)
    assert (hand_made.active, hand_made.given_name) == (True, "Hand")


# -- the command line ------------------------------------------------------------


def run_cli(tmp_path: Path, bundle: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "INZAGE_DATA_DIR": str(tmp_path / "data"),
        "INZAGE_DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "import-oneroster",
            str(bundle),
            "--school",
            "X",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_imports_a_bundle(tmp_path):
    done = run_cli(tmp_path, EDFI_11)

    assert done.returncode == 0, done.stderr
    assert "Added 52, changed 0, unchanged 0, skipped 0." in done.stdout


def test_cli_fails_on_a_broken_bundle(tmp_path):
    bundle = copy_bundle(EDFI_11, tmp_path)
    edit(bundle / "demographics.csv", "1997-05-30", "2010-02-30")

    done = run_cli(tmp_path, bundle)

    assert done.returncode == 1
    assert "demographics.csv line 2: birthDate '2010-02-30' is not a date" in (
        done.stderr
    )
    assert "Nothing was imported." in done.stderr


async def test_the_report_says_when_the_import_created_the_school(database):
    first = await import_bundle(EDFI_11, "NEWSCHOOL")
    again = await import_bundle(EDFI_11, "NEWSCHOOL")

    assert "School NEWSCHOOL did not exist yet: created." in first.lines()
    assert not any("did not exist" in line for line in again.lines())
