"""The OneRoster files we read: required columns, typed columns, vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field

# Column names of OneRoster 1.0 (and of 1.2 where it renamed one), mapped to
# the 1.1 names the importer works with. Columns are found by header name.
ALIASES: dict[str, str] = {
    "agents": "agentSourcedIds",
    "userId": "userIds",
    "birthdate": "birthDate",
    "termSourcedId": "termSourcedIds",
    "grade": "grades",
    "schoolYearId": "schoolYearSourcedId",
    "academicSessionSourcedId": "gradingPeriodSourcedId",
}

_RACE_FLAGS = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)


@dataclass(frozen=True)
class FileSpec:
    columns: tuple[str, ...]
    # Extra required columns by version ("1.0", "1.1", "1.2").
    by_version: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Columns whose value the importer needs: a row without one is skipped.
    values: tuple[str, ...] = ("sourcedId",)
    values_by_version: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dates: tuple[str, ...] = ()
    bools: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    def required(self, version: str) -> tuple[str, ...]:
        return ("sourcedId", *self.columns, *self.by_version.get(version, ()))

    def required_values(self, version: str) -> tuple[str, ...]:
        return (*self.values, *self.values_by_version.get(version, ()))


# In dependency order: a file refers only to files above it.
SPECS: dict[str, FileSpec] = {
    "orgs": FileSpec(("name", "type")),
    "academicSessions": FileSpec(
        ("title", "type", "startDate", "endDate"),
        by_version={"1.1": ("schoolYear",), "1.2": ("schoolYear",)},
        dates=("startDate", "endDate"),
    ),
    "courses": FileSpec(("title", "orgSourcedId")),
    "classes": FileSpec(
        ("title", "courseSourcedId", "classType", "schoolSourcedId", "termSourcedIds"),
        values=("sourcedId", "title"),
    ),
    "users": FileSpec(
        ("username", "givenName", "familyName"),
        by_version={
            "1.0": ("orgSourcedIds", "role"),
            "1.1": ("enabledUser", "orgSourcedIds", "role"),
            "1.2": ("enabledUser",),
        },
        values_by_version={"1.0": ("role",), "1.1": ("role",)},
        bools=("enabledUser",),
    ),
    "roles": FileSpec(
        ("userSourcedId", "roleType", "role", "orgSourcedId"),
        values=("sourcedId", "userSourcedId", "role"),
        dates=("beginDate", "endDate"),
    ),
    "demographics": FileSpec(
        (),
        dates=("birthDate",),
        bools=_RACE_FLAGS,
        aliases={"userSourcedId": "sourcedId"},
    ),
    "enrollments": FileSpec(
        ("classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
        values=("sourcedId", "classSourcedId", "userSourcedId", "role"),
        dates=("beginDate", "endDate"),
        bools=("primary",),
    ),
    "categories": FileSpec(("title",)),
    "lineItems": FileSpec(
        (
            "title",
            "assignDate",
            "dueDate",
            "classSourcedId",
            "categorySourcedId",
            "gradingPeriodSourcedId",
        ),
        by_version={
            "1.1": ("resultValueMin", "resultValueMax"),
            "1.2": ("schoolSourcedId",),
        },
        values=("sourcedId", "classSourcedId", "dueDate"),
        dates=("assignDate", "dueDate"),
    ),
    "results": FileSpec(
        ("lineItemSourcedId", "studentSourcedId", "scoreStatus", "scoreDate"),
        by_version={"1.1": ("score",)},
        values=("sourcedId", "lineItemSourcedId", "studentSourcedId"),
        dates=("scoreDate",),
        bools=("inProgress", "incomplete", "late", "missing"),
    ),
}

# users.role in 1.0 and 1.1; roles.role in 1.2 (which also accepts "ext:...").
USER_ROLES_11 = frozenset(
    {
        "administrator",
        "aide",
        "guardian",
        "parent",
        "proctor",
        "relative",
        "student",
        "teacher",
    }
)
USER_ROLES_12 = frozenset(
    {
        "aide",
        "counselor",
        "districtAdministrator",
        "guardian",
        "parent",
        "principal",
        "proctor",
        "relative",
        "siteAdministrator",
        "student",
        "systemAdministrator",
        "teacher",
    }
)
ENROLLMENT_ROLES = frozenset({"administrator", "proctor", "student", "teacher"})

# OneRoster role -> the portal's staff role (SPEC.md section 10). Other valid
# roles (aide, proctor, principal, ext:...) give a person without a staff
# role: they are imported so that staff can see and promote them, but they
# get no staff rights from the import alone.
STAFF_ROLE_OF = {
    "teacher": "mentor",
    "administrator": "admin",
    "siteAdministrator": "admin",
    "districtAdministrator": "admin",
    "systemAdministrator": "admin",
    "counselor": "care",
}
STAFF_RANK = {"admin": 3, "care": 2, "mentor": 1}

# OneRoster family role -> the portal's relation kind.
FAMILY_KIND_OF = {"guardian": "guardian", "parent": "guardian", "relative": "parent"}


def canonical_role(role: str, version: str) -> str | None:
    """Return the role in its spec spelling, or None when it is not valid."""
    vocabulary = USER_ROLES_12 if version == "1.2" else USER_ROLES_11
    if version == "1.2" and role.startswith("ext:") and len(role) > 4:
        return role
    for known in vocabulary:
        if known.lower() == role.lower():
            return known
    return None
