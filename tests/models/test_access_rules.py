"""The pure access rules of SPEC.md section 4."""

from datetime import UTC, date, datetime

import pytest

from models.access import Family, age_on, local_today, section_visible
from models.entities import SECTIONS


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(2010, 12, 3), date(2026, 12, 2), 15),
        (date(2010, 12, 3), date(2026, 12, 3), 16),
        (date(2008, 2, 29), date(2024, 2, 28), 15),
        (date(2008, 2, 29), date(2024, 2, 29), 16),
        (date(2009, 2, 28), date(2025, 2, 28), 16),
        (date(2010, 2, 28), date(2026, 2, 27), 15),
        (date(2012, 2, 29), date(2028, 2, 29), 16),
        (date(2011, 2, 28), date(2027, 2, 28), 16),
        (date(2011, 3, 1), date(2027, 2, 28), 15),
    ],
)
def test_age_counts_whole_years(born, today, age):
    assert age_on(born, today) == age


def test_leap_day_birthday_is_first_of_march_in_other_years():
    born = date(2008, 2, 29)

    assert age_on(born, date(2025, 2, 28)) == 16
    assert age_on(born, date(2025, 3, 1)) == 17


def test_age_turns_at_local_midnight_in_amsterdam():
    just_before = datetime(2026, 12, 2, 22, 59, tzinfo=UTC)  # 23:59 local
    just_after = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 00:00 local

    assert local_today(just_before, "Europe/Amsterdam") == date(2026, 12, 2)
    assert local_today(just_after, "Europe/Amsterdam") == date(2026, 12, 3)


def _family(age, guardians=(1, 2), selves=(9,), kept=()):
    return Family(
        age=age,
        sections_in_use=SECTIONS,
        guardian_ids=frozenset(guardians),
        self_ids=frozenset(selves),
        guardian_sections_until_18=frozenset(kept),
    )


def test_no_birth_date_shows_nothing_to_anyone_in_the_portal():
    family = _family(None)

    assert not section_visible(family, 1, "guardian", "results", [])
    assert not section_visible(family, 9, "self", "results", [])


def test_section_out_of_use_is_hidden_even_from_guardians():
    family = Family(10, ("results",), frozenset({1}), frozenset())

    assert section_visible(family, 1, "guardian", "results", [])
    assert not section_visible(family, 1, "guardian", "care", [])


def test_kept_sections_stay_visible_to_guardians_until_18():
    family = _family(17, kept=("results",))

    assert section_visible(family, 1, "guardian", "results", [])
    assert not section_visible(family, 1, "guardian", "care", [])
    assert not section_visible(
        _family(18, kept=("results",)), 1, "guardian", "results", []
    )


def test_unknown_kind_sees_nothing():
    assert not section_visible(_family(10), 5, "stranger", "results", [(1, "results")])
