from __future__ import annotations

import datetime as dt
import time

import pytest

from vertebra.language import normalise, read
from vertebra.language.lexicon import lexicon

MONDAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/52", "3 weeks"),
        ("2/12 ago", "2 months ago"),
        ("5/7", "5 days"),
        ("6 wks ago", "6 weeks ago"),
        ("1 wk", "1 week"),
        ("last Tuesday", "6 days ago"),
        ("on Monday", "7 days ago"),
        ("yesterday", "1 days ago"),
        ("T12 #", "t12 fracture"),
        ("VP/KP", "vertebroplasty or kyphoplasty"),
        ("SOB", "shortness of breath"),
        ("known prostate ca", "known prostate cancer"),
        ("neuro intact", "neurologically intact"),
        ("no neuro", "no neurological deficit"),
        ("on Prolia", "on denosumab"),
        ("Fosamax", "alendronate"),
        ("81F", "81 f"),
        ("78yo M", "78 year old m"),
        ("calcium and vit D", "calcium and vitamin d"),
    ],
)
def test_shorthand_is_spelled_out(text: str, expected: str) -> None:
    assert normalise(text, MONDAY).text == expected


def test_pain_scores_are_not_times() -> None:
    assert normalise("pain 7/10").text == "pain 7/10"


def test_typos_are_corrected_within_the_distance_limit() -> None:
    n = normalise("alendronat for a compresion fracture, kyphoplasy?")
    assert n.text == "alendronate for a compression fracture, kyphoplasty?"
    assert n.corrections == {
        "alendronat": "alendronate",
        "compresion": "compression",
        "kyphoplasy": "kyphoplasty",
    }
    # too far from any word: left alone; ordinary words near a clinical word: left alone
    assert normalise("alndrnte").text == "alndrnte"
    assert normalise("fraction weighted lumber").text == "fraction weighted lumber"
    assert normalise("frobnicate", known=["frobnicate"]).text == "frobnicate"


def test_brands_are_recorded() -> None:
    assert normalise("Prolia and Actonel").medicines == {
        "prolia": "denosumab",
        "actonel": "risedronate",
    }


def test_relative_dates_use_the_injected_today() -> None:
    assert normalise("last Tuesday", dt.date(2026, 12, 3)).text == "2 days ago"  # a Thursday
    assert normalise("last Thursday", dt.date(2026, 12, 3)).text == "7 days ago"


def test_input_is_capped_and_reading_is_linear() -> None:
    cap = lexicon().max_chars
    assert read("1" * (cap + 10)).truncated
    hostile = "1" * 2000
    start = time.perf_counter()
    read(hostile)
    small = time.perf_counter() - start
    start = time.perf_counter()
    read("L1,2," * 2000)
    assert small < 0.5 and time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "word",
    [
        "height",
        "impression",
        "stability",
        "unsuitable",
        "prevention",
        "decompression",
        "inability",
        "hypercalcaemia",
        "prednisone",
        "ladder",
    ],
)
def test_clinical_words_near_another_meaning_are_left_alone(word: str) -> None:
    # each was "corrected" into a word of another meaning (weight, compression, instability,
    # unstable, retention, hypocalcaemia, prednisolone, bladder) before it was listed
    assert normalise(f"the {word} here").text == f"the {word} here"


@pytest.mark.parametrize(
    ("word", "near"),
    [
        ("height", "weight"),
        ("impression", "compression"),
        ("attention", "retention"),
        ("intention", "retention"),
    ],
)
def test_real_report_words_are_not_corrected(word: str, near: str) -> None:
    # without the lexicon's known words, the typo corrector would read ``word`` as ``near``
    from vertebra.language.normalise import _correct, _vocabulary

    assert _correct(word, _vocabulary()[0]) == near
    n = normalise(f"IMPRESSION: {word} noted")
    assert n.text == f"impression: {word} noted"
    assert n.corrections == {}


def test_shorthand_matches_as_one_alternation_of_whole_words_longest_first() -> None:
    """The grouped regular expression of the shorthand table finds exactly what the plain
    alternation does (each key behind its own word-boundary tests, longest key first)."""
    import random
    import re

    from vertebra.language.normalise import _tables

    keys = sorted(_tables().mapping, key=len, reverse=True)

    def whole(key: str) -> str:
        head = r"(?<![\w])" if key[0].isalnum() else ""
        tail = r"(?![\w])" if key[-1].isalnum() else ""
        return head + re.escape(key) + tail

    plain = re.compile("|".join(whole(k) for k in keys))
    grouped = _tables().replace
    rng = random.Random(13)
    pieces = [*keys, *(k[:-1] for k in keys), " ", ".", "a", "1", "_", "-", "/", "(", "é", "\n"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 20))) for _ in range(5000)]
    texts += ["sob", "known prostate ca.", "vp/kp", "#nof", "t12 #", "a#s", "xsob", "sobx"]
    for text in texts:
        want = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in grouped.finditer(text)] == want, text
    assert any(plain.search(t) for t in texts)
