"""Norwegian national identity numbers (fødselsnummer, D-nummer): validated by date and both mod-11 check digits,
and a value type that never shows the number in a repr, a log line or an f-string by accident.

Accepted: a fødselsnummer (DDMMYY + individual number + two check digits) and a D-number (the first digit + 4, given
to people without one). Refused, on purpose:
- H-numbers (month + 40): a help number one health institution makes up for a patient it cannot identify; it is
  not national and not unique across institutions, so it cannot identify a patient in vaktrom. Register such a
  patient without a national identity number and add the real one when it is known.
- Synthetic test numbers (month + 80, Skatteetaten's Tenor test data): they identify no person; accepting them
  would let test data into a production register.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

__all__ = ["InvalidNationalId", "NationalId", "NationalIdKind", "parse_national_id"]

_LENGTH = 11
# Weights of the two check digits (Skatteetaten's specification of the fødselsnummer).
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_D_NUMBER_DAY_OFFSET = 40
_H_NUMBER_MONTH_OFFSET = 40
_SYNTHETIC_MONTH_OFFSET = 80


class NationalIdKind(enum.StrEnum):
    FODSELSNUMMER = "fodselsnummer"
    D_NUMBER = "d_number"


class InvalidNationalId(ValueError):
    """Why a national identity number was refused. The message never contains the number."""


@dataclass(frozen=True, slots=True)
class NationalId:
    """A validated number. `value` is kept out of repr(): print or log the object and no digits appear."""

    value: str = field(repr=False)
    kind: NationalIdKind
    birth_date: date = field(repr=False)

    def __str__(self) -> str:
        return f"<{self.kind.value}>"


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check  # 10: no valid number has these first digits


def _century(year: int, individual: int) -> int | None:
    """The birth year's century from the individual number (Folkeregisteret's ranges)."""
    if individual <= 499:
        return 1900
    if individual <= 749 and year >= 54:
        return 1800
    if individual >= 900 and year >= 40:
        return 1900
    if year <= 39:
        return 2000
    return None


def parse_national_id(text: str) -> NationalId:
    """A fødselsnummer or D-number, after trimming spaces. Raises InvalidNationalId saying what is wrong."""
    digits = text.replace(" ", "")
    if len(digits) != _LENGTH or not digits.isascii() or not digits.isdigit():
        raise InvalidNationalId("must be 11 digits")
    day, month, year = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    kind = NationalIdKind.FODSELSNUMMER
    if month > _SYNTHETIC_MONTH_OFFSET:
        raise InvalidNationalId("is a synthetic test number (month + 80); it identifies no person")
    if month > _H_NUMBER_MONTH_OFFSET:
        raise InvalidNationalId("is an H-number (month + 40), a local help number; leave it out")
    if day > _D_NUMBER_DAY_OFFSET:
        day -= _D_NUMBER_DAY_OFFSET
        kind = NationalIdKind.D_NUMBER
    century = _century(year, int(digits[6:9]))
    if century is None:
        raise InvalidNationalId("has an individual number that fits no birth year")
    try:
        born = date(century + year, month, day)
    except ValueError:
        raise InvalidNationalId("does not start with a real date of birth (DDMMYY)") from None
    if _check_digit(digits[:9], _K1_WEIGHTS) != int(digits[9]):
        raise InvalidNationalId("has a wrong first check digit")
    if _check_digit(digits[:10], _K2_WEIGHTS) != int(digits[10]):
        raise InvalidNationalId("has a wrong second check digit")
    return NationalId(digits, kind, born)
