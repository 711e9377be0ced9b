"""Partial FHIR dates and whole-year ages (example and property tests)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vertebra.fhir.dates import parse_date, years_between


@pytest.mark.parametrize(
    ("text", "earliest", "latest"),
    [
        ("1950", date(1950, 1, 1), date(1950, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28)),
        ("1950-03-07", date(1950, 3, 7), date(1950, 3, 7)),
        ("2018-10-18T02:16:29-04:00", date(2018, 10, 18), date(2018, 10, 18)),
    ],
)
def test_parse_date(text: str, earliest: date, latest: date) -> None:
    got = parse_date(text)
    assert got is not None
    assert (got.earliest, got.latest) == (earliest, latest)
    assert got.partial is (earliest != latest)


@pytest.mark.parametrize("text", ["", "50", "1950-13", "1950-02-30", "03/07/1950", None, 1950])
def test_invalid_dates_are_none(text: object) -> None:
    assert parse_date(text) is None


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_partial_forms_contain_the_day(day: date) -> None:
    for text in (f"{day.year:04d}", f"{day.year:04d}-{day.month:02d}", day.isoformat()):
        got = parse_date(text)
        assert got is not None
        assert got.earliest <= day <= got.latest


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2000, 12, 31)),
    st.dates(min_value=date(2001, 1, 1), max_value=date(2100, 12, 31)),
)
def test_years_between_is_the_age(birth: date, day: date) -> None:
    age = years_between(birth, day)
    # The birthday in the year ``day`` falls is on or before ``day`` exactly when age is
    # the plain difference of years.
    assert age in (day.year - birth.year, day.year - birth.year - 1)
    try:
        birthday = birth.replace(year=day.year)
    except ValueError:  # 29 February in a non-leap year: birthday counted on 1 March
        birthday = date(day.year, 3, 1)
    assert (age == day.year - birth.year) is (birthday <= day)
