from __future__ import annotations

import pytest

from vertebra.language import build, read
from vertebra.language.lexicon import LexiconError, parse


def test_context_negation_uncertainty_family_hypothetical() -> None:
    r = read("no weakness, family history of cancer in mother. ?mets at L2. if numbness develops")
    by = {(f.label, f.text): f for f in r.findings}
    assert by["neurological_deficit", "weakness"].negated
    assert by["malignancy", "cancer"].family
    assert by["malignancy", "metastases"].uncertain
    assert by["neurological_deficit", "numbness"].hypothetical
    assert not r.affirmed("neurological_deficit") and not r.affirmed("malignancy")


def test_shorthand_negation_and_affirmation() -> None:
    r = read("81F T12 #, no neuro, leg weakness. known prostate ca")
    assert [f.text for f in r.negated("neurological_deficit")] == ["neurological deficit"]
    assert [f.text for f in r.affirmed("neurological_deficit")] == ["weakness"]
    assert [f.text for f in r.affirmed("malignancy")] == ["cancer"]
    assert r.levels == ["T12"]


def test_report_sentences() -> None:
    r = read("No fracture at L2. Compression fracture of L3 with retropulsion.")
    assert r.negated("fracture") and r.affirmed("vertebral_fracture")
    assert r.affirmed("retropulsion")
    assert r.levels == ["L2", "L3"]


def test_callers_add_concepts() -> None:
    nlp = build({"falls": [r"\bfalls?\b"]})
    r = read("no falls", nlp=nlp)
    assert [f.label for f in r.negated("falls")] == ["falls"]


def test_sectionizer_is_available() -> None:
    nlp = build(sections=True)
    assert "medspacy_sectionizer" in nlp.pipe_names


def test_lexicon_rejects_unknown_keys_and_bad_regexes() -> None:
    from importlib import resources

    import yaml

    text = resources.files("vertebra.language").joinpath("data/lexicon.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    with pytest.raises(LexiconError, match="surprise"):
        parse(yaml.safe_dump({**data, "surprise": 1}))
    with pytest.raises(LexiconError, match="concepts"):
        parse(yaml.safe_dump({**data, "concepts": {"x": ["(unclosed"]}}))
    with pytest.raises(LexiconError, match=r"levels\.letters"):
        parse(yaml.safe_dump({**data, "levels": {**data["levels"], "letters": {"q": "Q"}}}))


def test_concept_sets_skip_spacy_only_when_nothing_can_modify() -> None:
    """The shortcut (no ConText trigger word: every target affirmed) gives the same findings as
    the full medspaCy pass."""
    import sys

    from vertebra.language import ConceptSet, normalise

    pipeline_module = sys.modules["vertebra.language.pipeline"]
    cs = ConceptSet({"neuro": [r"\bweakness\b"], "cancer": [r"\bcancer\b"]})
    for q in [
        "L1 # with leg weakness, known prostate ca?",
        "no weakness, mother had cancer",
        "weakness? cancer?",
    ]:
        text = normalise(q).text
        fast = cs.find(text)
        namespace = vars(pipeline_module)  # the module's globals, typed for mypy
        original = namespace["_may_modify"]
        namespace["_may_modify"] = lambda _text: True
        try:
            slow = cs.find(text)
        finally:
            namespace["_may_modify"] = original
        assert fast == slow, q
    may_modify = vars(pipeline_module)["_may_modify"]
    assert not may_modify("l1 fracture, leg weakness?")
    assert may_modify("no weakness")


def test_the_one_text_regex_matcher_finds_what_medspacys_finds() -> None:
    from medspacy.common.regex_matcher import RegexMatcher

    from vertebra.language.pipeline import find

    concepts = {
        "deformity": ["(compression|wedge) deformit(y|ies)", "wedging", "collapse"],
        "fracture": ["fractures?", "end-?plate (depression|fracture)"],
    }
    fast, plain = build(concepts), build(concepts)
    regex = plain.get_pipe("medspacy_target_matcher")._TargetMatcher__matcher
    fast_regex = fast.get_pipe("medspacy_target_matcher")._TargetMatcher__matcher
    assert type(fast_regex._MedspacyMatcher__regex_matcher) is not RegexMatcher
    regex._MedspacyMatcher__regex_matcher.__class__ = RegexMatcher  # medspaCy's own
    texts = [
        "no acute compression deformity; mild wedging of t12 and l1 endplate fracture.",
        "old fractures at t4-t5 with collapse, end plate depression",
        "nothing here",
        "wedge deformities x2 (t11,t12) - ?fracture",
    ]
    for text in texts:
        assert find(text, fast) == find(text, plain)
    assert find(texts[0], fast)  # the texts do have findings
