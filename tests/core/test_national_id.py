"""National identity numbers: a fødselsnummer or D-number with both mod-11 check digits is accepted; anything else
is refused saying why, and the number never shows in a repr or an error."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.national_id import InvalidNationalId, NationalIdKind, parse_national_id

# Worked by hand from Skatteetaten's weights: 010170 123 -> k1 = 11 - 84 mod 11 = 4, k2 = 11 - 85 mod 11 = 3.
FODSELSNUMMER = "01017012343"
D_NUMBER = "41017012337"  # the same date as a D-number: day + 40, so k1 = 3 and k2 = 7


def _check(digits: str, weights: tuple[int, ...]) -> int:
    return (11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11) % 11


def _with_checks(nine: str) -> str | None:
    k1 = _check(nine, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    if k1 == 10:
        return None
    k2 = _check(nine + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return None if k2 == 10 else f"{nine}{k1}{k2}"


def _individuals(year: int) -> range:
    """Individual numbers Folkeregisteret gives to people born in `year`."""
    if year < 1900:
        return range(500, 750)
    if year >= 2000:
        return range(500, 1000)
    return range(0, 500) if year < 1940 else range(900, 1000)


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, date, NationalIdKind]:
    born = draw(st.dates(min_value=date(1854, 1, 1), max_value=date(2039, 12, 31)))
    individual = draw(st.sampled_from(_individuals(born.year)))
    d_number = draw(st.booleans())
    day = born.day + (40 if d_number else 0)
    number = _with_checks(f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}")
    if number is None:
        number = draw(st.nothing())  # no valid number starts with these nine digits
    return number, born, NationalIdKind.D_NUMBER if d_number else NationalIdKind.FODSELSNUMMER


@pytest.mark.parametrize(
    ("number", "kind", "born"),
    [
        (FODSELSNUMMER, NationalIdKind.FODSELSNUMMER, date(1970, 1, 1)),
        (D_NUMBER, NationalIdKind.D_NUMBER, date(1970, 1, 1)),
        ("010170 123 43", NationalIdKind.FODSELSNUMMER, date(1970, 1, 1)),
    ],
)
def test_a_fodselsnummer_and_a_d_number_are_accepted(number: str, kind: NationalIdKind, born: date) -> None:
    parsed = parse_national_id(number)

    assert (parsed.value, parsed.kind, parsed.birth_date) == (number.replace(" ", ""), kind, born)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("0101701234", "must be 11 digits"),
        ("010170123434", "must be 11 digits"),
        ("0101701234a", "must be 11 digits"),
        ("01017012344", "has a wrong second check digit"),
        ("01017012353", "has a wrong first check digit"),
        ("31027012343", "does not start with a real date of birth (DDMMYY)"),
        ("01417012343", "is an H-number (month + 40), a local help number; leave it out"),
        ("01817012343", "is a synthetic test number (month + 80); it identifies no person"),
        ("01017080043", "has an individual number that fits no birth year"),
    ],
)
def test_a_number_that_is_not_a_national_id_is_refused_saying_why(number: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as refused:
        parse_national_id(number)

    assert str(refused.value) == reason
    assert number not in str(refused.value)


@given(valid_numbers())
def test_every_well_formed_number_is_accepted_with_its_birth_date_and_kind(
    drawn: tuple[str, date, NationalIdKind],
) -> None:
    number, born, kind = drawn
    parsed = parse_national_id(number)

    assert (parsed.value, parsed.birth_date, parsed.kind) == (number, born, kind)


@given(valid_numbers(), st.integers(0, 10), st.integers(1, 9))
def test_any_single_wrong_digit_is_refused(drawn: tuple[str, date, NationalIdKind], position: int, shift: int) -> None:
    number = drawn[0]
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]

    with pytest.raises(InvalidNationalId):
        parse_national_id(wrong)


@given(valid_numbers())
def test_the_number_never_shows_in_repr_or_str(drawn: tuple[str, date, NationalIdKind]) -> None:
    parsed = parse_national_id(drawn[0])

    assert drawn[0] not in repr(parsed)
    assert drawn[0] not in str(parsed)
    assert drawn[0] not in f"{parsed}"
