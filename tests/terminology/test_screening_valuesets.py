from __future__ import annotations

from vertebra import terminology
from vertebra.screen.config import load_definition
from vertebra.screen.logic import code_rows


def test_screening_value_sets_load_and_are_referenced() -> None:
    d = load_definition()
    for vs_id in d.value_sets.model_dump().values():
        vs = terminology.load(vs_id)
        assert vs.codes and vs.references


def test_fracture_sites_are_known_and_the_osteoporotic_code_is_site_unspecified() -> None:
    d = load_definition()
    other = terminology.load("fragility-fracture-other")
    assert {c.maps_to for c in other.codes} <= set(d.site_order)
    rows = {(r[0], r[1], r[2]): r for r in code_rows()}
    assert rows[("fracture", terminology.SNOMED, "443165006")][4] == "unspecified"
    assert rows[("fracture", terminology.SNOMED, "15724005")][4] == "vertebral"
    # ICD-10-CM codes are stored without dots so that M80.08XA matches prefix M80.08.
    assert rows[("fracture", terminology.ICD10CM, "M8008")][3] == "prefix"
    assert other.find(terminology.ICD10CM, "S72.011A") is not None


def test_every_medication_code_maps_to_a_contract_drug() -> None:
    from vertebra.facts import DRUGS

    rows = [r for r in code_rows() if r[0] == "medication"]
    assert rows and all(r[7] in DRUGS for r in rows)
