"""The demo school: a generated, realistic Dutch school to try the portal with.

``ensure_demo`` creates school ``DEMO`` once in the configured database. The
structure (names, families, classes, records, sharing) comes from a seeded
random generator, so every demo tells the same story; dates follow today's
date, so the ages in the story hold whenever the demo is created; the
passwords are random and saved, readable only by the owner, in the data
folder.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from tortoise.transactions import in_transaction

from models import totp
from models.access import birthday_in, local_today, utcnow
from models.entities import (
    CARER,
    GUARDIAN,
    PARENT,
    SECTIONS,
    SELF,
    Absence,
    AccessLog,
    Approval,
    Document,
    Enrollment,
    Person,
    Record,
    Relation,
    Result,
    School,
    SchoolClass,
    Session,
    Student,
    TestScore,
)
from models.passwords import hash_password_async, verify_password
from models.settings import Settings

logger = logging.getLogger(__name__)

DEMO_CODE = "DEMO"
DEMO_SCHOOL_NAME = "Het Baken, school voor primair en voortgezet onderwijs"
DEMO_TIMEZONE = "Europe/Amsterdam"
DEMO_SEED = 1961
EMAIL_DOMAIN = "demo.inzage.test"
ACCOUNTS_FILE = "demo-accounts.txt"
# One student has more results than a section page shows (50), so it pages.
MANY_RESULTS = 64
# Letters and digits that cannot be mistaken for each other when read aloud.
PASSWORD_ALPHABET = "".join(
    c for c in string.ascii_lowercase + string.digits if c not in "01ilo"
)


def new_password() -> str:
    """Return a random password of four groups of four, e.g. ``k7dw-...``."""
    groups = (
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(4)
    )
    return "-".join(groups)


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str | None  # None: never signed in, or the password was lost
    totp_key: str | None = None  # staff: the base32 key of their 2FA app


@dataclass(frozen=True)
class DemoAccounts:
    """The demo's sign-in accounts, as shown when the demo starts."""

    accounts: tuple[DemoAccount, ...]
    never_signed_in: tuple[DemoAccount, ...] = ()
    school_code: str = DEMO_CODE
    # Set when the school exists but its saved passwords are missing.
    passwords_lost: bool = False

    def password_of(self, email: str) -> str | None:
        return next((a.password for a in self.accounts if a.email == email), None)

    def table(self, url: str) -> str:
        """Render the accounts as a plain-text table with the URL and school code."""
        heading = ("Rol / role", "E-mail", "Wachtwoord / password", "2FA-sleutel / key")
        rows = [
            (
                a.role,
                a.email,
                a.password or "(onbekend / unknown)",
                totp.grouped(a.totp_key) if a.totp_key else "",
            )
            for a in self.accounts
        ]
        widths = [max(len(row[i]) for row in [heading, *rows]) for i in range(4)]

        def line(cells: Iterable[str]) -> str:
            return "  ".join(
                c.ljust(w) for c, w in zip(cells, widths, strict=True)
            ).rstrip()

        out = [
            "Inzage demo",
            f"  Adres / URL:          {url}",
            f"  Schoolcode / school:  {self.school_code}",
            "",
            line(heading),
            line("-" * w for w in widths),
            *(line(row) for row in rows),
            "",
        ]
        if any(a.totp_key for a in self.accounts):
            out += [
                "Medewerkers loggen in met wachtwoord en een code uit een "
                "authenticator-app met hun 2FA-sleutel (handmatige invoer). / Staff "
                "sign in with password and a code from an authenticator app set up "
                "with their 2FA key (manual entry).",
                "",
            ]
        for account in self.never_signed_in:
            # This guardian gets in as a parent does the first time: by the
            # e-mail link, which the demo writes to its mail folder.
            out.append(
                f"Nooit ingelogd / never signed in: {account.email} ({account.role}). "
                "Kies op de inlogpagina 'Wachtwoord vergeten? Eerste keer inloggen?'; "
                "de e-mail met de link staat in de map mail/ van de datamap. / "
                "Use 'forgot password / first sign-in' on the sign-in page; the "
                "e-mail with the link is written to the data folder's mail/."
            )
        if self.passwords_lost:
            out.append(
                f"De wachtwoorden van deze demo zijn niet bewaard in {ACCOUNTS_FILE}; "
                "start opnieuw met `inzage demo --reset`. / The passwords of this "
                "demo were not saved; start over with `inzage demo --reset`."
            )
        return "\n".join(out)


def _render_saved(accounts: DemoAccounts) -> str:
    lines = [
        "# Inzage demo accounts, school code DEMO. Tab-separated:",
        "# role, e-mail, password (empty: never signed in), 2FA key (staff).",
    ]
    for account in (*accounts.accounts, *accounts.never_signed_in):
        fields = (account.role, account.email, account.password or "")
        lines.append("\t".join((*fields, account.totp_key or "")))
    return "\n".join(lines) + "\n"


def save_accounts(path: Path, accounts: DemoAccounts) -> None:
    """Write the accounts file readable by its owner only, replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    # Created with mode 0600 from the start: the file holds passwords.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_render_saved(accounts))
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def load_accounts(path: Path) -> DemoAccounts | None:
    """Read the accounts file, or None when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    accounts, never = [], []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) == 3:  # a file from before 2FA keys were saved
            parts.append("")
        if len(parts) != 4:
            return None
        role, email, password, key = parts
        target = accounts if password else never
        target.append(DemoAccount(role, email, password or None, key or None))
    return DemoAccounts(tuple(accounts), tuple(never))


# ---------------------------------------------------------------- names


GIRLS = (
    "Emma", "Julia", "Mila", "Tess", "Sophie", "Zoë", "Sara", "Nora", "Fenna",
    "Lotte", "Anna", "Evi", "Noor", "Saar", "Liv", "Yasmina", "Fleur", "Isa",
    "Femke", "Lieke", "Esmee", "Amira", "Jasmijn", "Roos", "Merel",
)  # fmt: skip
BOYS = (
    "Noah", "Daan", "Sem", "Lucas", "Levi", "Finn", "Luuk", "Bram", "Jesse",
    "Milan", "Thijs", "Ruben", "Mohammed", "Ayoub", "Stijn", "Gijs", "Lars",
    "Sven", "Joep", "Teun", "Mees", "Ömer", "Hidde", "Jurre", "Wessel",
)  # fmt: skip
ADULT_WOMEN = (
    "Marieke", "Sandra", "Linda", "Esther", "Annemiek", "Karin", "Ilse",
    "Fatima", "Naima", "Wendy", "Petra", "Judith", "Saskia", "Miriam", "Ingrid",
    "Anouk", "Hanneke", "Marloes", "Yvonne", "Elif",
)  # fmt: skip
ADULT_MEN = (
    "Mark", "Jeroen", "Dennis", "Martijn", "Sander", "Erik", "Bas", "Joost",
    "Rachid", "Pieter", "Wouter", "Maarten", "Robert", "Arjen", "Hasan",
    "Remco", "Niels", "Vincent", "Koen", "Tom",
)  # fmt: skip
FAMILY_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker",
    "Janssen", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot",
    "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
    "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden",
    "Kok", "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "van der Veen",
    "van den Broek", "de Bruijn", "Schouten", "el Amrani", "Yılmaz",
    "Bouzid", "Nguyen", "Kramer", "van Wijk", "Postma", "Kuipers", "Hoekstra",
)  # fmt: skip
STREETS = (
    "Kerkstraat", "Molenweg", "Lindelaan", "Prinses Irenestraat", "Schoolstraat",
    "Burgemeester de Withstraat", "Beukenlaan", "Dorpsstraat", "Koningin Julianaweg",
    "Vondellaan", "Eikenlaan", "Havenkade", "Zonnebloemstraat", "Stationsweg",
)  # fmt: skip
# Places around the school, with the first two digits of their postcodes.
CITIES = (("Amersfoort", "38"), ("Leusden", "38"), ("Soest", "37"), ("Baarn", "37"))
# Dutch postcodes never use these letter pairs.
_POSTCODE_BANNED = {"SA", "SD", "SS"}

_ASCII = str.maketrans({"ı": "i", "ø": "o", "ß": "ss", "æ": "ae", "ł": "l"})


def _ascii_words(text: str) -> list[str]:
    """Return the words of a text in lower-case ASCII, accents dropped."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII))
    # Combining accents go; any other mark or space separates words.
    kept = "".join((c if c.isalnum() else " ") if c.isascii() else "" for c in folded)
    return kept.split()


def email_local_part(given: str, family: str) -> str:
    """Return ``given.family`` in lower-case ASCII, e.g. ``zoe.vandenberg``."""
    return f"{''.join(_ascii_words(given))}.{''.join(_ascii_words(family))}"


# ---------------------------------------------------------------- the story


# Homeroom classes: name, code, and the age in whole years of most students.
CLASSES = (
    ("Groep 5", "G5", 8),
    ("Groep 8", "G8", 11),
    ("2 havo", "2H", 13),
    ("4 vwo", "4V", 15),
    ("5 havo", "5H", 16),
)
PRIMARY_CLASSES = ("G5", "G8")

PRIMARY_SUBJECTS = (
    "Rekenen", "Taal", "Spelling", "Begrijpend lezen", "Wereldoriëntatie",
    "Engels",
)  # fmt: skip
SECONDARY_SUBJECTS = (
    "Nederlands", "Engels", "Wiskunde", "Geschiedenis", "Aardrijkskunde",
    "Biologie", "Natuurkunde", "Scheikunde", "Economie", "Frans", "Duits",
    "Lichamelijke opvoeding",
)  # fmt: skip
SECONDARY_TASKS = (
    ("Proefwerk hoofdstuk {n}", 2.0), ("SO hoofdstuk {n}", 1.0),
    ("Praktische opdracht", 2.0), ("Mondelinge overhoring", 1.0),
    ("Toets hoofdstuk {n}", 2.0), ("Woordjestoets {n}", 1.0),
)  # fmt: skip
PRIMARY_TASKS = ("Methodetoets blok {n}", "Dictee week {n}", "Werkstuk", "Presentatie")
ABSENCE_REASONS = (
    ("absent", "Ziek", True, "Hele dag"),
    ("absent", "Bezoek huisarts", True, "1e en 2e uur"),
    ("absent", "Tandarts", True, "3e uur"),
    ("absent", "Familieomstandigheden", True, "Hele dag"),
    ("absent", "Ongeoorloofd afwezig", False, "5e uur"),
    ("late", "Trein vertraagd", True, "1e uur"),
    ("late", "Verslapen", False, "1e uur"),
    ("late", "Fietsband lek", True, "1e uur"),
)
NOTES = (
    ("Huiswerk niet gemaakt", "Afgesproken dat het huiswerk morgen in orde is."),
    ("Compliment", "Sterke presentatie gegeven over het werkstuk; goed voorbereid."),
    ("Gesprek over planning", "Samen een weekplanning gemaakt voor de toetsweek."),
    ("Telefonisch contact ouders", "Ouders gebeld over het verzuim; uitleg gekregen."),
    ("Boek vergeten", "Voor de derde keer het leesboek vergeten; ouders geïnformeerd."),
    ("Hulp bij klasgenoot", "Heeft een nieuwe klasgenoot goed wegwijs gemaakt."),
)
MEETINGS = (
    (
        "Startgesprek",
        "Kennismaking met de mentor; doelen voor dit schooljaar besproken.",
    ),
    ("Tienminutengesprek", "Voortgang besproken met ouders en leerling."),
    ("Leerlingbespreking", "Besproken in het docententeam; werkhouding is goed."),
    ("Driehoeksgesprek", "Leerling, ouders en mentor: afspraken over huiswerk."),
)
# A mentor's remark on a report: for an average of 6 or more, and below.
REPORT_REMARKS = {
    True: (
        "Goede inzet; blijf zo doorgaan.",
        "Het plannen van huiswerk gaat steeds beter.",
        "Werkt zelfstandig en helpt klasgenoten.",
    ),
    False: (
        "Meer aandacht nodig voor de leesvaardigheid.",
        "Afspraak: elke week de agenda samen met de mentor doornemen.",
        "Extra oefenen voor de toetsen; hulp gevraagd bij de vakdocent.",
    ),
}
CARE = (
    ("Jaarlijkse signalering", "Geen bijzonderheden; geen extra ondersteuning nodig."),
    (
        "Handelingsplan spelling",
        "Twee keer per week extra oefening in een klein groepje.",
    ),
    ("Aanmelding zorgadviesteam", "Zorg over concentratie; besproken met ouders."),
    (
        "Ontwikkelingsperspectief",
        "Uitstroomprofiel vastgesteld en met ouders besproken.",
    ),
    ("Dyslexieverklaring ontvangen", "Extra tijd bij toetsen en vergroot lettertype."),
)


@dataclass
class Story:
    """What the demo holds, kept while it is built; accounts come last."""

    today: date
    rng: random.Random
    settings: Settings
    school: School | None = None
    emails: set[str] = field(default_factory=set)
    accounts: list[tuple[str, Person, str, str | None]] = field(default_factory=list)
    never_signed_in: list[tuple[str, Person]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # A password nobody knows: the accounts in the story that did sign in
    # once but whose passwords the demo does not hand out share its hash.
    unknown_hash: str = ""
    # Encrypts the staff's 2FA keys as the running portal will read them.
    server_secret: str = ""

    def years_ago(self, years: int, days: int = 0) -> date:
        when = birthday_in(self.today.year - years, self.today)
        return when - timedelta(days=days)

    def email(self, given: str, family: str) -> str:
        local = email_local_part(given, family)
        candidate, n = local, 2
        while f"{candidate}@{EMAIL_DOMAIN}" in self.emails:
            candidate, n = f"{local}{n}", n + 1
        address = f"{candidate}@{EMAIL_DOMAIN}"
        self.emails.add(address)
        return address

    def address(self) -> str:
        city, prefix = self.rng.choice(CITIES)
        while True:
            letters = "".join(self.rng.choices(string.ascii_uppercase, k=2))
            if letters not in _POSTCODE_BANNED:
                break
        postcode = f"{prefix}{self.rng.randint(10, 99)} {letters}"
        number = self.rng.randint(1, 180)
        return f"{self.rng.choice(STREETS)} {number}, {postcode} {city}"

    def phone(self) -> str:
        return f"06-{self.rng.randint(10_000_000, 99_999_999)}"

    def school_day(self, start: date, end: date) -> date:
        """Return a random weekday outside the summer holiday between the dates."""
        span = max((end - start).days, 1)
        for _ in range(100):
            day = start + timedelta(days=self.rng.randrange(span))
            summer = (day.month == 7 and day.day > 3) or day.month == 8
            if day.weekday() < 5 and not summer:
                return day
        return start

    @property
    def two_years_ago(self) -> date:
        """Return the first day of the previous school year (1 September)."""
        year = self.today.year if self.today.month >= 9 else self.today.year - 1
        return date(year - 1, 9, 1)

    async def person(
        self,
        given: str,
        family: str,
        *,
        role: str | None = None,
        staff_role: str | None = None,
        language: str = "nl",
        never_signed_in: bool = False,
    ) -> Person:
        """Create a person; ``role`` gives them a password in the accounts table."""
        password = new_password() if role else None
        if password:
            password_hash = await hash_password_async(password)
        else:
            password_hash = None if never_signed_in else self.unknown_hash
        person = await Person.create(
            school=self.school,
            email=self.email(given, family),
            given_name=given,
            family_name=family,
            staff_role=staff_role,
            language=language,
            password_hash=password_hash,
            require_2fa=staff_role is not None,
            last_sign_in_at=None if never_signed_in or password else utcnow(),
        )
        key = None
        if role and password and staff_role:
            # Staff always sign in with a code: the demo's staff come with a
            # confirmed key, printed beside their password.
            key = totp.new_secret()
            stored = totp.encrypt_secret(key, self.server_secret, person.id)
            await Person.filter(id=person.id).update(
                totp_secret=stored, totp_enabled=True
            )
        if role and password:
            self.accounts.append((role, person, password, key))
        if never_signed_in:
            self.never_signed_in.append(("ouder met gezag / guardian", person))
        return person


@dataclass
class Family:
    guardians: list[Person]
    family_name: str
    address: str
    others: list[tuple[Person, str]] = field(default_factory=list)


async def _adult(story: Story, woman: bool, family: str, **kwargs) -> Person:
    given = story.rng.choice(ADULT_WOMEN if woman else ADULT_MEN)
    return await story.person(given, family, **kwargs)


async def _family(
    story: Story,
    guardians: int,
    *,
    roles: tuple[str | None, ...] = (None, None),
    never_signed_in: bool = False,
    language: str = "nl",
    woman: bool = True,
) -> Family:
    """Create a family of one or two guardians; the children take the name.

    With two, the first is a woman who kept her own family name.
    """
    family_name = story.rng.choice(FAMILY_NAMES)
    first_name = story.rng.choice(FAMILY_NAMES) if guardians == 2 else family_name
    members = [await _adult(story, woman, first_name, role=roles[0])]
    if guardians == 2:
        members.append(
            await _adult(
                story,
                False,
                family_name,
                role=roles[1],
                never_signed_in=never_signed_in,
                language=language,
            )
        )
    return Family(members, family_name, story.address())


async def _student(
    story: Story,
    family: Family,
    homeroom: SchoolClass,
    born: date,
    *,
    account_role: str | None = None,
    with_account: bool = False,
) -> tuple[Student, Person | None]:
    """Create a student in a family, with an own account when asked."""
    girl = story.rng.random() < 0.5
    given = story.rng.choice(GIRLS if girl else BOYS)
    own: Person | None = None
    if with_account or account_role:
        own = await story.person(given, family.family_name, role=account_role)
    student = await Student.create(
        school=story.school,
        given_name=given,
        family_name=family.family_name,
        birth_date=born,
        homeroom=homeroom,
        address=family.address,
        phone=story.phone(),
        email=own.email if own else "",
    )
    # As the student information system would name it, for the messages API
    # (README): the student of /students/3/ is stu-3.
    student.sourced_id = f"stu-{student.id}"
    await student.save(update_fields=["sourced_id"])
    for guardian in family.guardians:
        await Relation.create(person=guardian, student=student, kind=GUARDIAN)
    for person, kind in family.others:
        await Relation.create(person=person, student=student, kind=kind)
    if own is not None:
        await Relation.create(person=own, student=student, kind=SELF)
    await Enrollment.create(
        school=story.school,
        school_class=homeroom,
        student=student,
        role="student",
        begin_date=story.two_years_ago,
        sourced_id=f"demo-{homeroom.code}-{student.id}",
    )
    return student, own


async def _approve(
    student: Student, approver: Person, viewer: Person, sections: Iterable[str]
) -> None:
    for section in sections:
        await Approval.create(
            student=student, approver=approver, viewer=viewer, section=section
        )


# ---------------------------------------------------------------- records


def school_year(day: date) -> str:
    """Return the school year of a date, e.g. ``2024-2025``."""
    first = day.year if day.month >= 9 else day.year - 1
    return f"{first}-{first + 1}"


# When a school year's reports come out: (period, month, day), the last
# school day on or before that date.
REPORT_DATES = ((1, 11, 28), (2, 3, 6), (3, 7, 3))


def report_days(start: date, end: date) -> list[tuple[int, date]]:
    """Return the report periods and their days between the dates, in order."""
    days = []
    for first in range(start.year - 1, end.year + 1):
        for period, month, day_of_month in REPORT_DATES:
            day = date(first if month >= 9 else first + 1, month, day_of_month)
            day -= timedelta(days=max(0, day.weekday() - 4))
            if start <= day <= end:
                days.append((period, day))
    return days


def _grade(rng: random.Random) -> str:
    value = min(10.0, max(1.0, rng.gauss(6.9, 1.2)))
    return f"{value:.1f}".replace(".", ",")


def _grade_value(grade: str) -> float:
    """Return the number a Dutch grade text ("6,5") stands for."""
    return float(grade.replace(",", "."))


def _comment(rng: random.Random, score: str, primary: bool) -> str:
    """Return a teacher's remark that fits the grade, or none."""
    value = _grade_value(score)
    if value >= 7.5:
        return rng.choice(("", "Goed gedaan!", "Mooi werk."))
    if value < 5.5 and not primary:
        return rng.choice(("", "Herkansing mogelijk.", "Bespreek dit met je docent."))
    if value < 5.5:
        return rng.choice(("", "We oefenen dit nog samen in de klas."))
    return ""


def _results(story: Story, student: Student, primary: bool, count: int) -> list[Result]:
    rng, rows = story.rng, []
    subjects = PRIMARY_SUBJECTS if primary else SECONDARY_SUBJECTS
    for n in range(count):
        day = story.school_day(story.two_years_ago, story.today)
        period = f"Periode {1 + (day.month - 9) % 12 // 3}, {school_year(day)}"
        if primary:
            title, weight = rng.choice(PRIMARY_TASKS).format(n=rng.randint(1, 9)), 1.0
        else:
            task, weight = rng.choice(SECONDARY_TASKS)
            title = task.format(n=rng.randint(1, 9))
        score = _grade(rng)
        rows.append(
            Result(
                student=student,
                school=story.school,
                date=day,
                subject=subjects[n % len(subjects)],
                title=title,
                period=period,
                score=score,
                weight=weight,
                comment=_comment(rng, score, primary),
            )
        )
    return rows


def _absences(story: Story, student: Student) -> list[Absence]:
    rows = []
    for _ in range(story.rng.randint(3, 12)):
        kind, reason, authorised, period = story.rng.choice(ABSENCE_REASONS)
        rows.append(
            Absence(
                student=student,
                date=story.school_day(story.two_years_ago, story.today),
                period=period,
                kind=kind,
                reason=reason,
                authorised=authorised,
            )
        )
    return rows


def _test_scores(story: Story, student: Student, primary: bool) -> list[TestScore]:
    rng, rows = story.rng, []
    start = story.two_years_ago
    for year, moment in ((0, "midden"), (0, "eind"), (1, "midden")):
        month = 1 if moment == "midden" else 6
        day = date(start.year + 1 + year, month, rng.randint(10, 28))
        if day > story.today:
            continue
        if primary:
            for part in ("Rekenen-Wiskunde", "Begrijpend lezen", "Spelling"):
                rows.append(
                    TestScore(
                        student=student,
                        date=day,
                        test_name=f"Cito LVS {moment}toets",
                        part=part,
                        score=str(rng.randint(150, 260)),
                        level=rng.choice(("I", "II", "III", "IV", "V")),
                    )
                )
        else:
            for part in ("Nederlands leesvaardigheid", "Engels", "Wiskunde"):
                rows.append(
                    TestScore(
                        student=student,
                        date=day,
                        test_name="Cito Volgsysteem VO",
                        part=part,
                        score=str(rng.randint(120, 190)),
                        level=rng.choice(("vmbo-gt", "havo", "havo/vwo", "vwo")),
                    )
                )
    if not rows:  # created in the first months of a school year
        rows.append(
            TestScore(
                student=student,
                date=story.school_day(story.two_years_ago, story.today),
                test_name="Screening leesvaardigheid",
                part="Totaal",
                score=str(rng.randint(40, 90)),
                level="B",
            )
        )
    return rows


def _records(story: Story, student: Student, mentor: Person) -> list[Record]:
    rng, rows, author = story.rng, [], mentor.name
    start, today = story.two_years_ago, story.today
    for period, day in report_days(start, today)[-rng.randint(2, 4) :]:
        average = _grade(rng)
        remark = rng.choice(REPORT_REMARKS[_grade_value(average) >= 6])
        rows.append(
            Record(
                student=student,
                section="reports",
                date=day,
                title=f"Rapport periode {period}, {school_year(day)}",
                body=(
                    f"Gemiddeld cijfer {average}. Werkhouding: "
                    f"{rng.choice(('goed', 'voldoende', 'wisselend'))}. "
                    f"Opmerking mentor: {remark}"
                ),
                author=author,
            )
        )
    for title, body in rng.sample(MEETINGS, 2):
        rows.append(
            Record(
                student=student,
                section="meetings",
                date=story.school_day(start, today),
                title=title,
                body=body,
                author=author,
            )
        )
    # A planned meeting, which families can read and comment on beforehand.
    rows.append(
        Record(
            student=student,
            section="meetings",
            date=today + timedelta(days=rng.randint(5, 20)),
            title="Gepland: voortgangsgesprek",
            body="Agenda: cijfers, werkhouding en afspraken. Vragen zijn welkom.",
            author=author,
        )
    )
    for title, body in [CARE[0], *rng.sample(CARE[1:], rng.randint(0, 1))]:
        rows.append(
            Record(
                student=student,
                section="care",
                date=story.school_day(start, today),
                title=title,
                body=body,
                author="Zorgcoördinator",
            )
        )
    for title, body in rng.sample(NOTES, rng.randint(2, 4)):
        rows.append(
            Record(
                student=student,
                section="notes",
                date=story.school_day(start, today),
                title=title,
                body=body,
                author=author,
            )
        )
    return rows


def tiny_pdf(lines: Iterable[str]) -> bytes:
    """Return a valid one-page PDF that shows the lines in Helvetica."""

    def text(value: str) -> bytes:
        raw = value.encode("cp1252", "replace")
        return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    content = b"BT /F1 14 Tf 72 770 Td 18 TL"
    for value in lines:
        content += b" (" + text(value) + b") Tj T*"
    content += b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
        b"/Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    pdf = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    pdf += b"startxref\n%d\n%%%%EOF\n" % xref
    return pdf


def _document(story: Story, student: Student, title: str, day: date) -> Document:
    """Write a small PDF for the student and return its (unsaved) Document."""
    data = tiny_pdf([DEMO_SCHOOL_NAME, title, student.name, day.strftime("%d-%m-%Y")])
    storage_name = secrets.token_hex(16)
    folder = story.settings.files_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / storage_name
    story.files.append(path)
    path.write_bytes(data)
    slug = "-".join(_ascii_words(title)) or "document"
    return Document(
        student=student,
        date=day,
        title=title,
        filename=f"{slug}.pdf",
        content_type="application/pdf",
        size_bytes=len(data),
        storage_name=storage_name,
    )


async def _fill_sections(
    story: Story, student: Student, mentor: Person, primary: bool, results: int
) -> None:
    """Give the student records in every section."""
    await Absence.bulk_create(_absences(story, student))
    await Result.bulk_create(_results(story, student, primary, results))
    await TestScore.bulk_create(_test_scores(story, student, primary))
    await Record.bulk_create(_records(story, student, mentor))
    documents = [
        _document(
            story,
            student,
            f"Rapport {story.two_years_ago.year}-{story.two_years_ago.year + 1}",
            date(story.two_years_ago.year + 1, 7, 5),
        )
    ]
    if story.rng.random() < 0.5:
        day = story.school_day(story.two_years_ago, story.today)
        documents.append(_document(story, student, "Verslag oudergesprek", day))
    await Document.bulk_create(documents)


# ---------------------------------------------------------------- building


async def _build(story: Story) -> None:
    """Create the demo school with its staff, families, students and records."""
    rng = story.rng
    story.school = await School.create(
        code=DEMO_CODE,
        name=DEMO_SCHOOL_NAME,
        timezone=DEMO_TIMEZONE,
        sections=list(SECTIONS),
        guardian_sections_until_18=[],
    )
    await _adult(story, True, "Verhoeven", role="beheerder / admin", staff_role="admin")
    await _adult(
        story,
        False,
        "Bosman",
        role="zorgcoördinator / care coordinator",
        staff_role="care",
    )
    classes: dict[str, SchoolClass] = {}
    mentors: dict[str, Person] = {}
    for name, code, _ in CLASSES:
        mentor = await _adult(
            story,
            rng.random() < 0.6,
            rng.choice(FAMILY_NAMES),
            staff_role="mentor",
            role=f"mentor {name} / mentor" if code == "2H" else None,
        )
        mentors[code] = mentor
        classes[code] = await SchoolClass.create(
            school=story.school,
            name=name,
            code=code,
            is_homeroom=True,
            mentor=mentor,
            sourced_id=f"demo-class-{code}",
        )
    jeugdconsulent = await _adult(
        story, True, "Scholten", role="hulpverlener (jeugdconsulent) / carer"
    )
    logopedist = await _adult(story, False, "Willemsen")

    async def student(code, family, born, results=None, **kwargs):
        kid, own = await _student(story, family, classes[code], born, **kwargs)
        primary = code in PRIMARY_CLASSES
        count = results or rng.randint(12, 30)
        await _fill_sections(story, kid, mentors[code], primary, count)
        return kid, own

    # A single mother with two children at the school, in groep 5 and 2 havo.
    single = await _family(
        story, 1, roles=("ouder met gezag, 2 kinderen / guardian (2 children)",)
    )
    await student("G5", single, story.years_ago(8, 40))
    sibling, sibling_self = await student(
        "2H", single, story.years_ago(13, 120), with_account=True
    )
    await _approve(sibling, single.guardians[0], sibling_self, ("absence", "results"))

    # Two guardians who share some sections with the jeugdconsulent; this
    # student's results run over several pages.
    pair = await _family(
        story,
        2,
        roles=(
            "ouder met gezag 1 van 2 / guardian 1 of 2",
            "ouder met gezag 2 van 2 / guardian 2 of 2 (English)",
        ),
        language="en",
    )
    pair.others.append((jeugdconsulent, CARER))
    shared, _ = await student(
        "2H", pair, story.years_ago(13, 200), with_account=True, results=MANY_RESULTS
    )
    for guardian in pair.guardians:
        await _approve(shared, guardian, jeugdconsulent, ("absence", "results"))
    await _approve(shared, pair.guardians[0], jeugdconsulent, ("tests",))

    # A mother with sole authority and a father without it.
    sole = await _family(story, 1)
    father = await _adult(
        story,
        False,
        sole.family_name,
        role="ouder zonder gezag / parent without authority",
    )
    sole.others.append((father, PARENT))
    kid, _ = await student("G8", sole, story.years_ago(11, 150))
    await _approve(kid, sole.guardians[0], father, ("reports", "absence"))

    # Speech therapy in groep 5: both guardians share care, one also tests.
    speech = await _family(story, 2)
    speech.others.append((logopedist, CARER))
    kid, _ = await student("G5", speech, story.years_ago(8, 250))
    for guardian in speech.guardians:
        await _approve(kid, guardian, logopedist, ("care", "reports"))
    await _approve(kid, speech.guardians[1], logopedist, ("tests",))

    # Turning 16 within the month; one guardian never signed in.
    soon = await _family(story, 2, never_signed_in=True)
    await student("4V", soon, story.years_ago(16, -12), with_account=True)

    # Sixteen and over: the student decides.
    older = await _family(
        story,
        2,
        roles=("ouder met gezag, leerling 16+ deelt / guardian of a 16+ student", None),
    )
    older.others.append((jeugdconsulent, CARER))
    kid, own = await student(
        "5H", older, story.years_ago(17, 60), account_role="leerling 16+ / student 16+"
    )
    await _approve(kid, own, older.guardians[0], ("results",))
    await _approve(kid, own, jeugdconsulent, ("absence",))
    # Given before the 16th birthday; from then on only the student's count.
    for guardian in older.guardians:
        await _approve(kid, guardian, own, ("care",))

    # Everyone else: a mix of one- and two-guardian families.
    others = {"G5": 3, "G8": 4, "2H": 3, "4V": 4, "5H": 4}
    for _, code, class_age in CLASSES:
        for n in range(others[code]):
            if rng.random() < 0.3:
                family = await _family(story, 1, woman=rng.random() < 0.7)
            else:
                family = await _family(story, 2)
            # Half of the upper classes are a year older: 16 in 4 vwo, 17 in 5 havo.
            age = class_age + (1 if class_age >= 15 and n % 2 else 0)
            born = story.years_ago(age, rng.randint(20, 340))
            kid, own = await student(code, family, born, with_account=age >= 12)
            if own is not None and age < 16 and rng.random() < 0.5:
                for guardian in family.guardians:
                    await _approve(kid, guardian, own, ("absence", "results", "tests"))


async def _create(settings: Settings) -> DemoAccounts:
    story = Story(
        today=local_today(utcnow(), DEMO_TIMEZONE),
        # Seeded on purpose: it picks names and dates, never a secret.
        rng=random.Random(DEMO_SEED),  # noqa: S311
        settings=settings,
        unknown_hash=await hash_password_async(secrets.token_urlsafe(32)),
        server_secret=totp.server_secret(settings),
    )
    try:
        async with in_transaction():
            await _build(story)
    except BaseException:
        for path in story.files:
            path.unlink(missing_ok=True)
        raise
    return DemoAccounts(
        accounts=tuple(
            DemoAccount(role, p.email, pw, key) for role, p, pw, key in story.accounts
        ),
        never_signed_in=tuple(
            DemoAccount(role, p.email, None) for role, p in story.never_signed_in
        ),
    )


async def delete_demo(settings: Settings) -> None:
    """Delete school DEMO with everything in it, and its document files."""
    school = await School.get_or_none(code=DEMO_CODE)
    if school is None:
        return
    student_ids = await Student.filter(school_id=school.id).values_list("id", flat=True)
    person_ids = await Person.filter(school_id=school.id).values_list("id", flat=True)
    storage_names = await Document.filter(student_id__in=student_ids).values_list(
        "storage_name", flat=True
    )
    async with in_transaction():
        for model in (
            AccessLog,
            Approval,
            Record,
            Absence,
            Result,
            TestScore,
            Document,
            Enrollment,
            Relation,
        ):
            await model.filter(student_id__in=student_ids).delete()
        await Approval.filter(viewer_id__in=person_ids).delete()
        await Approval.filter(approver_id__in=person_ids).delete()
        await Relation.filter(person_id__in=person_ids).delete()
        await Session.filter(person_id__in=person_ids).delete()
        await Result.filter(school_id=school.id).delete()
        await Enrollment.filter(school_id=school.id).delete()
        await SchoolClass.filter(school_id=school.id).delete()
        await Student.filter(school_id=school.id).delete()
        await Person.filter(school_id=school.id).delete()
        # Rows of tables not named here go with the school (ON DELETE CASCADE).
        await school.delete()
    for name in storage_names:
        (settings.files_dir / name).unlink(missing_ok=True)
    logger.info("demo school %s deleted", school.id)


async def _saved(settings: Settings) -> DemoAccounts:
    """Return the saved accounts, checked against the database they belong to."""
    saved = load_accounts(settings.data_dir / ACCOUNTS_FILE)
    if saved and saved.accounts:
        first = saved.accounts[0]
        person = await Person.get_or_none(school__code=DEMO_CODE, email=first.email)
        if person and await verify_password(person.password_hash, first.password or ""):
            return saved
    # Another database's file, or none: the passwords here cannot be known.
    emails = await Person.filter(
        school__code=DEMO_CODE, password_hash__isnull=False, staff_role="admin"
    ).values_list("email", flat=True)
    accounts = tuple(DemoAccount("beheerder / admin", email, None) for email in emails)
    return DemoAccounts(accounts, passwords_lost=True)


async def ensure_demo(settings: Settings, *, reset: bool = False) -> DemoAccounts:
    """Create the demo school once; with ``reset``, delete it and start over."""
    exists = await School.exists(code=DEMO_CODE)
    if exists and not reset:
        return await _saved(settings)
    if exists:
        await delete_demo(settings)

    accounts = await _create(settings)
    save_accounts(settings.data_dir / ACCOUNTS_FILE, accounts)
    logger.info("demo school created with %d accounts", len(accounts.accounts))
    return accounts
