"""The one list of medicine names (terminology/medicine-names.yaml): validated against the facts
vocabulary, and read by FHIR intake, CDS Hooks orders, ``vertebra ask`` and the language module."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vertebra import terminology
from vertebra.ask.extract import extract
from vertebra.facts import DRUGS
from vertebra.language.normalise import brands, normalise
from vertebra.terminology import parse_medicine_names


def test_every_drug_has_its_own_name_first() -> None:
    spelled = terminology.medicine_names().spelled
    for drug in DRUGS:
        assert spelled[drug][0] == drug.replace("_", " ")


def test_a_word_outside_the_facts_vocabulary_is_rejected() -> None:
    with pytest.raises(ValueError, match="not in the facts vocabulary: \\['zopiclonee'\\]"):
        parse_medicine_names("local_routes: []\nwords:\n  zopiclonee: {names: [zimovane]}\n")


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_medicine_names("local_routes: []\nwords:\n  warfarin: {names: [], brand: x}\n")


def test_one_name_for_two_words_is_rejected() -> None:
    text = "local_routes: []\nwords:\n  warfarin: {names: [w]}\n  apixaban: {names: [w]}\n"
    with pytest.raises(ValueError, match="names both"):
        parse_medicine_names(text)


@pytest.mark.parametrize(
    ("name", "drug"), [("aclasta", "zoledronic_acid"), ("voltarol", "diclofenac")]
)
def test_a_name_in_the_file_is_read_by_every_reader(name: str, drug: str) -> None:
    names = terminology.medicine_names()
    assert names.words_in(f"{name} 5 mg", DRUGS) == [drug]  # FHIR intake, CDS Hooks orders
    assert brands()[name] == drug.replace("_", " ")  # the language module
    assert normalise(f"on {name}").medicines == {name: drug.replace("_", " ")}
    assert drug in extract(f"Is {name} safe for her?").drugs  # vertebra ask
