"""The password policy and hashing (SECURITY-BASELINE A01-A03, A35)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher

from models.passwords import (
    COMMON,
    GUESSABLE,
    PERSONAL,
    TOO_LONG,
    TOO_SHORT,
    _verify,
    context_words,
    hash_password,
    needs_rehash,
    password_problem,
    two_factor_applies,
)

SCHOOL = SimpleNamespace(name="De Regenboog", code="RGB", require_2fa=False)


def person(**fields):
    values = dict(
        given_name="Sam",
        family_name="Jansen",
        email="sam.jansen@example.test",
        staff_role=None,
        require_2fa=False,
        totp_enabled=False,
    )
    values.update(fields)
    return SimpleNamespace(**values)


def problem(password, two_factor=False, who=None):
    found = password_problem(
        password,
        two_factor=two_factor,
        context=context_words(who or person(), SCHOOL),
    )
    return found.message if found else None


def test_fifteen_characters_without_two_factor_eight_with_it():
    assert problem("vlinder zomer 1") is None  # 15
    assert problem("vlinder zomer ") == TOO_SHORT  # 14
    assert problem("Kx9#mP2q", two_factor=True) is None  # 8
    assert problem("Kx9#mP2", two_factor=True) == TOO_SHORT  # 7


def test_the_reason_names_the_minimum():
    found = password_problem("short", two_factor=False)

    assert found.values == {"min": 15}


@pytest.mark.parametrize(
    "fields, school_requires, expected",
    [
        ({}, False, False),
        ({}, True, True),
        ({"require_2fa": True}, False, True),
        ({"staff_role": "mentor"}, False, True),
        ({"totp_enabled": True}, False, True),
    ],
)
def test_two_factor_applies_where_it_is_on_or_required(
    fields, school_requires, expected
):
    school = SimpleNamespace(**{**vars(SCHOOL), "require_2fa": school_requires})

    assert two_factor_applies(person(**fields), school) is expected


def test_no_composition_rules_and_any_script():
    for password in (
        "correct horse battery staple",
        "alleen kleine letters en spaties",
        "Ω😀 lange zin met spaties erin",
        "日本語のパスワードはとても長い",
    ):
        assert problem(password) is None, password


def test_up_to_256_characters():
    long = "een lange zin die steeds verder gaat " * 7
    assert problem(long[:256]) is None
    assert problem(long[:256] + "x") == TOO_LONG


def test_common_and_guessable_passwords_are_refused_with_the_reason():
    assert problem("iloveyou", two_factor=True) == COMMON
    assert problem("qwertyuiop", two_factor=True) == COMMON
    assert problem("passwordpassword") == GUESSABLE
    assert problem("qwertyuiopasdfgh") == GUESSABLE
    assert problem("1234567890123456") == GUESSABLE
    assert problem("aaaaaaaaaaaaaaaa") == GUESSABLE


def test_the_common_list_comes_from_a_maintained_package():
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    assert len(FREQUENCY_LISTS["passwords"]) >= 3000


@pytest.mark.parametrize(
    "password",
    [
        "deregenboog2025portal",
        "De Regenboog wachtwoord!",
        "mijn naam is jansen echt",
        "sam.jansen heeft een fiets",
        "inzage is een mooi portaal",
    ],
)
def test_passwords_built_from_the_school_the_person_or_the_product(password):
    assert problem(password) == PERSONAL


def test_short_parts_of_names_are_not_refused():
    # "Sam" and "RGB" are shorter than four letters: too common to refuse.
    assert problem("samen naar het strand toe") is None


def test_the_hash_has_the_baseline_parameters():
    assert hash_password("correct horse battery staple").startswith(
        "$argon2id$v=19$m=65536,t=3,p=4$"
    )


def test_older_parameters_need_a_rehash():
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("x" * 20)

    assert needs_rehash(old)
    assert not needs_rehash(hash_password("x" * 20))
    assert _verify(old, "x" * 20)


def test_verification_is_exact_no_truncation_no_case_folding():
    password = "Ω😀 " + "honderd tekens met spaties " * 4
    stored = hash_password(password)

    assert _verify(stored, password)
    assert not _verify(stored, password[:72])
    assert not _verify(stored, password.upper())
    # NFKC: a full-width letter is the same character typed another way.
    assert _verify(
        hash_password("ｐａｓｓ phrase long enough"), "pass phrase long enough"
    )
