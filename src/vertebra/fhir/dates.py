"""FHIR dates as they come: ``1950``, ``1950-03``, ``1950-03-07``, or a dateTime with a zone.

A partial date is a range; callers choose the bound they need and say so in a note.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

_DATE = re.compile(r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2}))?)?")


@dataclass(frozen=True)
class FhirDate:
    """A date or partial date: the earliest and latest day it can mean."""

    text: str
    earliest: date
    latest: date

    @property
    def partial(self) -> bool:
        return self.earliest != self.latest


def parse_date(value: object) -> FhirDate | None:
    """Parse a FHIR ``date``/``dateTime``/``instant`` (the calendar date only); None if invalid.

    The date part of a dateTime is taken as written (local to the sender), not moved to UTC.
    """
    if not isinstance(value, str):
        return None
    m = _DATE.match(value.strip())
    if not m:
        return None
    year = int(m["y"])
    try:
        if m["d"]:
            day = date(year, int(m["m"]), int(m["d"]))
            return FhirDate(value, day, day)
        if m["m"]:
            month = int(m["m"])
            last = calendar.monthrange(year, month)[1]
            return FhirDate(value, date(year, month, 1), date(year, month, last))
        return FhirDate(value, date(year, 1, 1), date(year, 12, 31))
    except ValueError:
        return None


def years_between(start: date, end: date) -> int:
    """Whole years from ``start`` to ``end`` (age on ``end`` for a birth on ``start``)."""
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years
