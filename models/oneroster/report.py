"""What an import reports: problems by file and line, and counts per kind of row."""

from __future__ import annotations

from dataclasses import dataclass, field

# The kinds of rows an import writes, in the order the report lists them.
KINDS: tuple[str, ...] = (
    "persons",
    "students",
    "relations",
    "classes",
    "enrollments",
    "results",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one line of one file of the bundle."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        # Line 0 is the bundle as a whole (a path that is not a bundle).
        if self.line == 0:
            return f"{self.file}: {self.reason}"
        return f"{self.file} line {self.line}: {self.reason}"


@dataclass
class Tally:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


class ImportFailed(Exception):
    """Raised when a bundle cannot be imported at all; nothing was applied."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} fatal problem(s) in the bundle")

    def lines(self) -> list[str]:
        """Return one line per fatal problem, ``FILE line N: reason``."""
        return [str(problem) for problem in self.problems]


@dataclass
class ImportReport:
    """What an import did: the problems it skipped over, and its counts."""

    school_code: str = ""
    problems: list[Problem] = field(default_factory=list)
    tallies: dict[str, Tally] = field(
        default_factory=lambda: {kind: Tally() for kind in KINDS}
    )
    skipped: int = 0
    data_rows: int = 0
    # The code of the school this import created, if it did.
    school_created: str = ""
    # What the school still lacks after the import (models.oneroster.importer).
    notes: list[str] = field(default_factory=list)

    def problem(self, file: str, line: int, reason: str, *, skip: bool = True):
        """Record a problem; ``skip`` says that the row was left out."""
        self.problems.append(Problem(file, line, reason))
        if skip:
            self.skipped += 1

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tallies.values())

    @property
    def changed(self) -> int:
        return sum(t.changed for t in self.tallies.values())

    @property
    def unchanged(self) -> int:
        return sum(t.unchanged for t in self.tallies.values())

    def lines(self) -> list[str]:
        """Return the problems, one a line, then the counts."""
        out = [str(problem) for problem in self.problems]
        for kind, tally in self.tallies.items():
            if tally.added or tally.changed or tally.unchanged:
                out.append(
                    f"{kind}: added {tally.added}, changed {tally.changed}, "
                    f"unchanged {tally.unchanged}"
                )
        if self.data_rows == 0:
            out.append(
                "The bundle holds no data rows (header-only files): nothing was added."
            )
        elif self.added == 0 and self.changed == 0:
            out.append("Nothing changed: every imported record was already up to date.")
        if self.school_created:
            out.append(f"School {self.school_created} did not exist yet: created.")
        out.extend(f"Note: {note}" for note in self.notes)
        out.append(
            f"Added {self.added}, changed {self.changed}, "
            f"unchanged {self.unchanged}, skipped {self.skipped}."
        )
        return out
