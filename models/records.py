"""The statements that read one page of a section's records, newest first."""

from __future__ import annotations

from models.entities import RECORD_SECTIONS

PAGE_SIZE = 50

# One constant statement per kind of section: the page's rows, newest first.
# Each fetches one row more than a page, which tells whether there is a next
# page without a count.
SECTION_SQL: dict[str, str] = {
    "absence": "SELECT id, date, period, kind, reason, authorised FROM absence"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    # Withdrawn results (OneRoster tobedeleted) stay in the table, inactive.
    "results": "SELECT id, date, subject, title, period, score, comment FROM result"
    " WHERE student_id = ? AND active = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "tests": "SELECT id, date, test_name, part, score, level FROM test_score"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "documents": "SELECT id, date, title, filename FROM document"
    " WHERE student_id = ? ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
    "record": "SELECT id, date, title, body, author FROM record"
    " WHERE student_id = ? AND section = ?"
    " ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
}

# PostgreSQL: the same rows as one JSON array in one column, so that another
# statement can carry them beside its own rows (models.sessions).
SECTION_JSON_SQL: dict[str, str] = {
    key: "SELECT json_agg(r ORDER BY r.date DESC, r.id DESC) AS page_rows"  # noqa: S608  # nosec B608
    f" FROM ({statement}) r"
    for key, statement in SECTION_SQL.items()
}


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
