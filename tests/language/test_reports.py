"""Radiology report reading (vertebra.language.reports): behaviour, and the evaluation floors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertebra import yamlfile
from vertebra.language.reports import read_report, sentences, strip_html, trigger

DATA = Path(__file__).resolve().parents[1] / "screen" / "data"


@dataclass
class Score:
    n: int
    tp: int
    fp: int
    fn: int
    levels_right: int
    acuity_right: int
    uncertain_right: int
    uncertain_total: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn)

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def f1(self) -> float:
        s, p = self.sensitivity, self.ppv
        return 2 * s * p / (s + p) if s + p else 0.0


def load(batch: str) -> list[dict[str, Any]]:
    items = yamlfile.safe_load((DATA / f"report_eval_{batch}.yaml").read_text(encoding="utf-8"))
    assert isinstance(items, list)
    return items


def score(batch: str) -> Score:
    """A report is positive when it affirms a vertebral fracture ("uncertain" is not positive);
    levels and acuity are scored on the true positives."""
    s = Score(0, 0, 0, 0, 0, 0, 0, 0)
    for item in load(batch):
        r = read_report(item["t"])
        gold, pred = item["vf"] is True, r.verdict == "yes"
        s.n += 1
        s.tp += gold and pred
        s.fp += pred and not gold
        s.fn += gold and not pred
        if gold and pred:
            s.levels_right += r.levels == list(item["lv"])
            s.acuity_right += r.acuity == item["ac"]
        if item["vf"] == "uncertain":
            s.uncertain_total += 1
            s.uncertain_right += r.verdict == "uncertain"
    return s


def test_the_set_is_as_described() -> None:
    held, dev = load("heldout"), load("dev")
    assert len(held) >= 100 and len(held) + len(dev) >= 300
    everything = held + dev + load("after")
    assert len({i["id"] for i in everything}) == len(everything)
    negatives = [i for i in everything if i["vf"] is False]
    assert len(negatives) >= len(everything) / 3
    assert {i["vf"] for i in everything} == {True, False, "uncertain"}
    for i in everything:
        assert set(i) <= {"id", "vf", "lv", "ac", "tag", "t"}, i["id"]
        assert i["ac"] in (None, "acute", "chronic", "old", "healed", "age_indeterminate"), i["id"]


@pytest.mark.parametrize(
    ("batch", "sensitivity", "ppv", "f1"),
    [("heldout", 0.95, 0.93, 0.95), ("dev", 0.98, 0.98, 0.98), ("after", 0.95, 0.88, 0.93)],
)
def test_evaluation_floors(batch: str, sensitivity: float, ppv: float, f1: float) -> None:
    s = score(batch)
    assert s.sensitivity >= sensitivity
    assert s.ppv >= ppv
    assert s.f1 >= f1
    assert s.levels_right >= 0.95 * s.tp
    assert s.acuity_right >= 0.95 * s.tp
    assert s.uncertain_right >= 0.75 * s.uncertain_total


def test_levels_acuity_grade_and_evidence() -> None:
    r = read_report(
        "History: fall. IMPRESSION: Acute L1 compression fracture with marrow "
        "oedema. Old T11-T12 wedge deformities, Genant grade 2."
    )
    assert r.verdict == "yes"
    assert r.levels == ["T11", "T12", "L1"]
    assert r.acuity == "old"  # the most specific acuity any sentence states
    assert r.evidence == "IMPRESSION: Acute L1 compression fracture with marrow oedema."
    assert [m.acuity for m in r.affirmed] == ["acute", "old"]
    assert r.affirmed[1].grade == "grade 2 (moderate)"


@pytest.mark.parametrize(
    "text",
    [
        "Wedge-shaped opacity in the right upper lobe.",
        "Healed fractures of the left fifth and sixth ribs.",
        "Nondisplaced fracture of the right clavicle.",
        "Vertebral body heights are maintained.",
        "No compression deformity.",
        "Degenerative changes of the lumbar spine.",
        "Sacral insufficiency fracture.",
        "Fracture of the left transverse process of L2.",
    ],
)
def test_decoys_and_negations_are_not_fractures(text: str) -> None:
    assert read_report(text).verdict == "no"


def test_cannot_exclude_is_uncertain_and_region_words_are_kept() -> None:
    assert read_report("Cannot exclude a subtle T12 compression fracture.").verdict == "uncertain"
    r = read_report("Age-indeterminate anterior wedge deformity of a midthoracic vertebra.")
    assert (r.verdict, r.levels, r.affirmed[0].region) == ("yes", [], "midthoracic")
    assert r.acuity == "age_indeterminate"
    assert read_report("Upper lumbar compression fracture.").affirmed[0].region == "upper lumbar"


def test_html_and_sentence_splitting() -> None:
    page = "<html><body><p>Lungs clear.</p><p>Acute T8 crush fracture &amp; oedema.</p></body>"
    r = read_report(page, "text/html; charset=utf-8")
    assert r.levels == ["T8"] and r.acuity == "acute"
    assert r.evidence == "Acute T8 crush fracture & oedema."
    assert strip_html("<b>a</b>&lt;b") == " a <b"
    assert sentences("FINDINGS:\n1. No fracture.\n2. Old L2 fracture. Dr. [NAME] told.") == [
        "FINDINGS:",
        "1. No fracture.",
        "2. Old L2 fracture.",
        "Dr.",
        "[NAME] told.",
    ]


def test_trigger_is_a_prefilter_for_every_positive() -> None:
    import re

    rx = re.compile(trigger())
    for item in load("dev") + load("heldout") + load("after"):
        if item["vf"] is not False:
            assert rx.search(item["t"].lower()), item["id"]


def test_sentence_separators_are_those_of_the_plain_pattern() -> None:
    """The reader's sentence splitter (written for speed, white space first) finds exactly the
    separators of the plain pattern it replaced, on report-like random text."""
    import random
    import re

    from vertebra.language.reports import _SPLIT

    plain = re.compile(
        r"(?<=[.!?])(?<!\b\d\.)(?<!\b\d\d\.)\s+(?=[\[(\"'A-Z0-9*])"
        r"|\n\s*\n"
        r"|\n(?=\s*(?:\d+[.)]|[-*•])\s)"
        r"|\n(?=[A-Z][A-Z /]+:)"
    )
    pieces = ["Fracture", "of", "T12.", "1.", "12.", "123.", "a1.", "\n", "\n\n", " ", "  ", "\t"]
    pieces += ["IMPRESSION:", "\nFINDINGS: ", "- ", "* ", "• ", "\u00a0", "Dr.", "?", "!", "("]
    pieces += ["[NAME]", "A", "\r\n", "2)", "x", "'", '"', "É", "9", ".", "é."]
    rng = random.Random(13)
    texts = [
        "".join(rng.choice(pieces) + rng.choice(["", " ", "\n"]) for _ in range(rng.randint(0, 30)))
        for _ in range(20000)
    ]
    texts += [item["t"] for batch in ("dev", "heldout", "after") for item in load(batch)]
    for text in texts:
        want = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in _SPLIT.finditer(text)] == want, text
    assert sum(1 for t in texts if plain.search(t)) > 1000


def test_triggered_texts_equals_triggered_text_by_text() -> None:
    """The screen's batch splitter (each distinct part tested once) gives every text exactly the
    sentences of :func:`triggered`, which are those of :func:`sentences` with a trigger word."""
    import random
    import re

    from vertebra.language.reports import triggered, triggered_texts

    rx = re.compile(trigger())
    pieces = ["Fracture", "of", "T12.", "1.", "12.", "wedge", "Wedging.", "\n", "\n\n", " ", "\t"]
    pieces += ["IMPRESSION:", "\nFINDINGS: ", "- ", "* ", "• ", "\u00a0", "Dr.", "?", "!", "("]
    pieces += ["[NAME]", "A", "\r\n", "2)", "2.5 cm", "COMPRESSION", "height.", "É", "İ", "."]
    rng = random.Random(13)
    texts = [
        "".join(rng.choice(pieces) + rng.choice(["", " ", "\n"]) for _ in range(rng.randint(0, 30)))
        for _ in range(5000)
    ]
    texts += [item["t"] for batch in ("dev", "heldout", "after") for item in load(batch)]
    texts += texts[:500]  # repeated texts and parts
    batch = triggered_texts(texts)
    assert batch == [triggered(t) for t in texts]
    for text, kept in zip(texts, batch, strict=True):
        assert kept == [s for s in sentences(text) if rx.search(s.lower())], text
    assert sum(1 for kept in batch if kept) > 1000


_REPORT_PIECES = st.sampled_from(
    [
        "fracture",
        "Wedge",
        "T12.",
        "L1,2",
        "1.",
        "12.",
        "2.5",
        "Dr.",
        "[NAME]",
        "IMPRESSION:",
        "- ",
        "• ",
        "\n",
        "\n\n",
        " ",
        "\t",
        "\u00a0",
        "(",
        "?",
        "!",
        "Plana",
        "height",
        "É",
    ]
)


@given(st.lists(st.one_of(_REPORT_PIECES, st.text(max_size=4)), max_size=25).map("".join))
@settings(max_examples=300, deadline=None)
def test_triggered_texts_equals_the_full_split_and_filter(text: str) -> None:
    import re

    from vertebra.language.reports import triggered_texts

    rx = re.compile(trigger())
    want = [s for s in sentences(text) if rx.search(s.lower())]
    assert triggered_texts([text, text]) == [want, want]
