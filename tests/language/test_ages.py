from __future__ import annotations

import pytest

from vertebra.language import Age, Unreadable, normalise, read_age


def age(text: str) -> Age | Unreadable | None:
    return read_age(normalise(text).text)


@pytest.mark.parametrize(
    ("text", "low", "high", "sex"),
    [
        ("81F T12 #", 81, 81, "female"),
        ("78yo M", 78, 78, None),
        ("She's 84, L2", 84, 84, None),
        ("Gent in his 80s", 80, 89, None),
        ("in her late eighties", 87, 89, None),
        ("in her mid-80s", 84, 86, None),
        ("octogenarian", 80, 89, None),
        ("eighty-four year old woman", 84, 84, None),
        ("Woman aged 70", 70, 70, None),
        ("30M fell 5 m off scaffolding", 30, 30, "male"),
        ("fell 5 m, 30M", 30, 30, "male"),  # 5 m is a height
        ("8 yo boy with Duchenne", 8, 8, None),
        ("teen with a T12 fracture", 13, 17, None),
        ("age: 84", 84, 84, None),
    ],
)
def test_ages_in_all_forms(text: str, low: int, high: int, sex: str | None) -> None:
    got = age(text)
    assert isinstance(got, Age)
    assert (got.low, got.high, got.sex) == (low, high, sex)


def test_an_age_given_but_unreadable_is_reported() -> None:
    got = age("patient aged about eighty")
    assert isinstance(got, Unreadable)
    assert "aged" in got.text


@pytest.mark.parametrize("text", ["pain 7/10 on 10mg", "T-score -2.8", "CrCl 25", "3 weeks ago"])
def test_numbers_that_are_not_ages(text: str) -> None:
    assert age(text) is None
