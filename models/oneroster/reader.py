"""Read a OneRoster bundle (a .zip or a folder) into checked rows.

Everything that makes the whole bundle unusable is collected as a fatal
problem; row-level trouble is reported and the row left out.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from models.oneroster.report import ImportFailed, ImportReport, Problem
from models.oneroster.spec import ALIASES, SPECS, FileSpec

MANIFEST = "manifest.csv"
ACTIVE = "active"
TOBEDELETED = "tobedeleted"
BULK = "bulk"
DELTA = "delta"
ABSENT = "absent"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?"
)


@dataclass
class Row:
    """One data row: its line in the file, its status and its values."""

    line: int
    status: str
    values: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.values.get(name, "")

    @property
    def sourced_id(self) -> str:
        return self.values["sourcedId"]


@dataclass
class Table:
    """One data file of the bundle."""

    name: str
    file: str
    mode: str
    rows: list[Row] = field(default_factory=list)

    @property
    def is_bulk(self) -> bool:
        return self.mode == BULK

    def ids(self) -> set[str]:
        """Return every sourcedId in the file, skipped rows included."""
        return {row.sourced_id for row in self.rows}


@dataclass
class Bundle:
    version: str
    tables: dict[str, Table]
    # Every sourcedId written in each file, rows left out included.
    all_ids: dict[str, set[str]]

    def rows(self, name: str) -> list[Row]:
        table = self.tables.get(name)
        return table.rows if table else []

    def has(self, name: str) -> bool:
        return name in self.tables

    def is_bulk(self, name: str) -> bool:
        table = self.tables.get(name)
        return bool(table and table.is_bulk and self.all_ids[name])


def read_bundle(path: Path, report: ImportReport) -> Bundle:
    """Read and check every file we use; raise ImportFailed on fatal problems."""
    raw = _read_files(Path(path))
    fatal: list[Problem] = []
    version, modes = _read_manifest(raw, fatal, report)
    tables: dict[str, Table] = {}
    all_ids: dict[str, set[str]] = {}
    if not fatal:
        for name, spec in SPECS.items():
            file = f"{name}.csv"
            mode = modes.get(name, ABSENT)
            if file not in raw:
                if mode in (BULK, DELTA):
                    report.problem(
                        MANIFEST,
                        1,
                        f"{file} is declared {mode} but missing",
                        skip=False,
                    )
                continue
            if mode == ABSENT:
                report.problem(
                    file,
                    1,
                    "the manifest declares this file absent; ignored",
                    skip=False,
                )
                continue
            table = Table(name, file, mode)
            all_ids[name] = _read_table(raw[file], table, spec, version, fatal, report)
            tables[name] = table
    if fatal:
        raise ImportFailed(fatal)
    return Bundle(version, tables, all_ids)


def _read_files(path: Path) -> dict[str, bytes]:
    """Return the CSV files at the root of a zip or folder, by file name."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.glob("*.csv") if p.is_file()}
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv")]
            root = [n for n in names if "/" not in n]
            # The spec forbids an enclosing folder, but a zipped folder is the
            # commonest mistake; accept it when every file sits in that folder.
            folders = {n.rsplit("/", 1)[0] for n in names if "/" in n}
            if not root and len(folders) == 1:
                root = names
            return {n.rsplit("/", 1)[-1]: archive.read(n) for n in root}
    raise ImportFailed(
        [Problem(str(path), 0, "is neither a folder nor a .zip file of CSV files")]
    )


def _read_manifest(
    raw: dict[str, bytes], fatal: list[Problem], report: ImportReport
) -> tuple[str, dict[str, str]]:
    """Return the OneRoster version and the mode of each file."""
    if MANIFEST not in raw:
        # Without a manifest the bundle is OneRoster 1.0, whose files are bulk.
        return "1.0", {name: BULK for name in SPECS if f"{name}.csv" in raw}
    rows = _decode_rows(MANIFEST, raw[MANIFEST], fatal)
    if rows is None:
        return "", {}
    header = rows[0][1] if rows else []
    if header[:2] != ["propertyName", "value"]:
        fatal.append(Problem(MANIFEST, 1, "the header must be propertyName,value"))
        return "", {}
    props: dict[str, tuple[int, str]] = {}
    for line, values in rows[1:]:
        if values and values[0].strip():
            value = values[1].strip() if len(values) > 1 else ""
            props[values[0].strip()] = (line, value)
    line, version = props.get("oneroster.version", (1, ""))
    if version == "1.1" or version == "1.0":
        pass
    elif re.fullmatch(r"1\.2(\.\d+)?", version):
        version = "1.2"
    else:
        fatal.append(
            Problem(
                MANIFEST,
                line,
                f"oneroster.version {version!r} is not supported "
                "(accepted: 1.0, 1.1, 1.2, 1.2.x)",
            )
        )
        return "", {}
    modes = {}
    for name in SPECS:
        line, mode = props.get(f"file.{name}", (1, ""))
        if mode not in (BULK, DELTA, ABSENT):
            if f"{name}.csv" in raw:
                report.problem(
                    MANIFEST,
                    line,
                    f"file.{name} is {mode!r}, not bulk, delta or absent; "
                    f"{name}.csv is ignored",
                    skip=False,
                )
            mode = ABSENT
        modes[name] = mode
    return version, modes


def _decode_rows(
    file: str, data: bytes, fatal: list[Problem]
) -> list[tuple[int, list[str]]] | None:
    """Split a file into (line number, fields); None when it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        fatal.append(Problem(file, line, "is not valid UTF-8; save the file as UTF-8"))
        return None
    reader = csv.reader(text.splitlines(keepends=True), strict=False)
    rows = []
    start = 1
    for fields in reader:
        rows.append((start, fields))
        start = reader.line_num + 1
    return rows


def _header(
    file: str,
    header: list[str],
    spec: FileSpec,
    version: str,
    fatal: list[Problem],
    report: ImportReport,
) -> dict[str, int]:
    """Map canonical column names to positions; check required columns."""
    columns: dict[str, int] = {}
    aliases = {**ALIASES, **spec.aliases}
    for position, raw_name in enumerate(header):
        name = raw_name.strip()
        if not name:
            continue
        name = aliases.get(name, name)
        if name in columns:
            if name in spec.required(version):
                fatal.append(
                    Problem(file, 1, f"the required column {name} appears twice")
                )
            else:
                report.problem(
                    file,
                    1,
                    f"column {name} appears twice; the first is used",
                    skip=False,
                )
            continue
        columns[name] = position
    for name in spec.required(version):
        if name not in columns:
            fatal.append(Problem(file, 1, f"the required column {name} is missing"))
    return columns


def _read_table(
    data: bytes,
    table: Table,
    spec: FileSpec,
    version: str,
    fatal: list[Problem],
    report: ImportReport,
) -> set[str]:
    """Fill the table with checked rows; return every sourcedId seen."""
    file = table.file
    rows = _decode_rows(file, data, fatal)
    if not rows:
        return set()
    columns = _header(file, rows[0][1], spec, version, fatal, report)
    if "sourcedId" not in columns:
        return set()
    width = len(rows[0][1])
    first_line: dict[str, int] = {}
    for line, fields in rows[1:]:
        if not any(f.strip() for f in fields):
            continue
        report.data_rows += 1
        if len(fields) > width and not any(f.strip() for f in fields[width:]):
            fields = fields[:width]  # Ed-Fi teachers carry one empty extra field
        position = columns["sourcedId"]
        sourced_id = fields[position].strip() if position < len(fields) else ""
        if sourced_id:
            if sourced_id in first_line:
                fatal.append(
                    Problem(
                        file,
                        line,
                        f"sourcedId {sourced_id} appears twice "
                        f"(also on line {first_line[sourced_id]})",
                    )
                )
                continue
            first_line[sourced_id] = line
        if len(fields) != width:
            report.problem(
                file,
                line,
                f"has {len(fields)} fields where the header has {width}; row skipped",
            )
            continue
        if any("\n" in f or "\r" in f for f in fields):
            report.problem(file, line, "a field holds a line break; row skipped")
            continue
        values = {name: fields[pos].strip() for name, pos in columns.items()}
        if not _convert(file, line, values, spec, fatal):
            continue
        row = _row(file, line, values, version, spec, report)
        if row is not None:
            table.rows.append(row)
    return set(first_line)


def _convert(
    file: str,
    line: int,
    values: dict[str, Any],
    spec: FileSpec,
    fatal: list[Problem],
) -> bool:
    """Parse dates, date-times and booleans in place; False when one fails."""
    ok = True
    for name in spec.dates:
        text = values.get(name, "")
        if text:
            values[name] = parse_date(text)
            if values[name] is None:
                fatal.append(
                    Problem(file, line, f"{name} {text!r} is not a date (YYYY-MM-DD)")
                )
                ok = False
        else:
            values[name] = None
    text = values.get("dateLastModified", "")
    if text:
        values["dateLastModified"] = parse_datetime(text)
        if values["dateLastModified"] is None:
            fatal.append(
                Problem(
                    file,
                    line,
                    f"dateLastModified {text!r} is not an ISO 8601 date-time",
                )
            )
            ok = False
    for name in spec.bools:
        text = values.get(name, "")
        if text.lower() in ("true", "false"):
            values[name] = text.lower() == "true"
        elif text:
            fatal.append(Problem(file, line, f"{name} {text!r} is not true or false"))
            ok = False
        else:
            values[name] = None
    return ok


def _row(
    file: str,
    line: int,
    values: dict[str, Any],
    version: str,
    spec: FileSpec,
    report: ImportReport,
) -> Row | None:
    """Check status and required values; None (reported) when the row is out."""
    status = str(values.get("status", "")).lower()
    if status in ("", ACTIVE):
        status = ACTIVE
    elif status == "inactive" and version == "1.0":
        status = TOBEDELETED  # 1.0's own word for a withdrawn record
    elif status != TOBEDELETED:
        report.problem(
            file,
            line,
            f"status {values['status']!r} is not active or tobedeleted; row skipped",
        )
        return None
    for name in spec.required_values(version):
        if not values.get(name):
            report.problem(file, line, f"{name} is empty; row skipped")
            return None
    return Row(line, status, values)


def parse_date(text: str) -> date | None:
    """Parse YYYY-MM-DD strictly; None when it is no real date."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO 8601 date-time (a bare date is accepted); None if invalid."""
    if not _DATETIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def split_list(text: str) -> list[str]:
    """Split a OneRoster list field, trimming each element."""
    return [item.strip() for item in text.split(",") if item.strip()]
