"""The statements that read one page of a section's records, newest first."""

from __future__ import annotations

from operator import itemgetter

from models.entities import RECORD_SECTIONS

PAGE_SIZE = 50

# The columns that each kind of section shows, in the order its statement
# reads them; ``id`` and ``date`` first.
SECTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "absence": ("id", "date", "period", "kind", "reason", "authorised"),
    "results": ("id", "date", "subject", "title", "period", "score", "comment"),
    "tests": ("id", "date", "test_name", "part", "score", "level"),
    "documents": ("id", "date", "title", "filename"),
    "record": ("id", "date", "title", "body", "author"),
}
_WHERE = {
    "absence": "absence WHERE student_id = ?",
    # Withdrawn results (OneRoster tobedeleted) stay in the table, inactive.
    "results": "result WHERE student_id = ? AND active = ?",
    "tests": "test_score WHERE student_id = ?",
    "documents": "document WHERE student_id = ?",
    "record": "record WHERE student_id = ? AND section = ?",
}

# One constant statement per kind of section: the page's rows, newest first.
# Each fetches one row more than a page, which tells whether there is a next
# page without a count.
SECTION_SQL: dict[str, str] = {
    key: f"SELECT {', '.join(columns)} FROM {_WHERE[key]}"  # noqa: S608  # nosec B608
    " ORDER BY date DESC, id DESC LIMIT ? OFFSET ?"
    for key, columns in SECTION_COLUMNS.items()
}

# PostgreSQL: the same rows in one column, a JSON list of each row's values,
# so that another statement can carry them beside its own rows
# (models.sessions). The list comes in no set order (ordering it costs
# PostgreSQL a sort, a sixth of the statement): newest_first() orders it.
SECTION_JSON_SQL: dict[str, str] = {
    key: "SELECT json_agg(json_build_array("  # noqa: S608  # nosec B608
    + ", ".join(f"r.{column}" for column in SECTION_COLUMNS[key])
    + f")) AS page_rows FROM ({statement}) r"
    for key, statement in SECTION_SQL.items()
}


def newest_first(rows: list[list]) -> list[list]:
    """Order rows of SECTION_COLUMNS' values as the statements do: by date,
    then id, newest first (ISO date texts order as the dates do)."""
    return sorted(rows, key=itemgetter(1, 0), reverse=True)


def page_query(student_id: int, section: str, number: int) -> tuple[str, tuple] | None:
    """Return the statement key and values of one page, or None for a section
    that has no records of its own (personal) or does not exist."""
    offset = (number - 1) * PAGE_SIZE
    if section in RECORD_SECTIONS:
        return "record", (student_id, section, PAGE_SIZE + 1, offset)
    if section == "results":
        return "results", (student_id, True, PAGE_SIZE + 1, offset)
    if section in SECTION_SQL and section != "record":
        return section, (student_id, PAGE_SIZE + 1, offset)
    return None
