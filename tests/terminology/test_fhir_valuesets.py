"""The value sets the FHIR adapter reads: structure, vocabulary targets and check digits.

LOINC codes carry a mod-10 check digit and SNOMED CT identifiers a Verhoeff check digit, so a
mistyped code fails here even though no terminology server is reachable.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from vertebra import terminology, yamlfile
from vertebra.facts import ALLERGY_CLASSES, CONDITIONS, DRUGS, LEVELS, MEDICINES, PatientFacts
from vertebra.fhir.codes import ingredient_code
from vertebra.terminology import ATC, ICD10CM, LOINC, RXNORM, SNOMED, YESNO

OWN = (
    "vertebral-fracture",
    "osteoporosis",
    "osteoporosis-medication",
    "analgesic-medication",
    "dxa-t-score",
    "egfr",
    "pain-score",
    "body-weight",
    "patient-conditions",
    "malignancy",
    "current-medication",
    "allergy-substance",
    "creatinine-clearance",
    "pregnancy-status",
    "vte",
    "pregnancy",
    "falls",
    "medication-use",
    "immobility",
)
MAPS_TO = {
    "osteoporosis-medication": set(DRUGS),
    "analgesic-medication": set(DRUGS),
    "patient-conditions": set(CONDITIONS),
    "malignancy": {"history_of_cancer", "suspected_malignancy"},
    "current-medication": set(MEDICINES),
    "medication-use": set(MEDICINES),
    "allergy-substance": {*DRUGS, *ALLERGY_CLASSES, "none"},
    "pregnancy-status": {"pregnant", "breastfeeding", "true", "false", "unknown"},
}

BIBLIOGRAPHY = {
    entry["id"]
    for entry in yamlfile.safe_load(
        resources.files("vertebra.knowledge").joinpath("data", "bibliography.yaml").read_text()
    )["sources"]
}

# Verhoeff tables (dihedral group D5).
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_ok(number: str) -> bool:
    check = 0
    for i, ch in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(ch)]]
    return check == 0


def loinc_ok(code: str) -> bool:
    """LOINC mod-10: double the number made of odd positions (from the right), prefix the even
    positions, add all digits; the check digit brings the sum to a multiple of ten."""
    base, _, check = code.partition("-")
    digits = base[::-1]
    odd = int(digits[0::2][::-1]) * 2
    even = digits[1::2][::-1]
    total = sum(int(d) for d in f"{even}{odd}")
    return (10 - total % 10) % 10 == int(check)


def test_check_digit_functions_catch_typos() -> None:
    assert loinc_ok("38265-5") and not loinc_ok("38265-4") and not loinc_ok("38256-5")
    assert verhoeff_ok("64859006") and not verhoeff_ok("64859007")
    assert not verhoeff_ok("64895006")


@pytest.mark.parametrize("vs_id", OWN)
def test_value_set_loads_and_is_well_formed(vs_id: str) -> None:
    vs = terminology.load(vs_id)
    assert vs.references[0] == "clinical-sources-codes"
    assert set(vs.references) <= BIBLIOGRAPHY, vs.references
    keys = [(c.system, c.code) for c in vs.codes]
    assert len(set(keys)) == len(keys), "duplicate codes"
    for c in vs.codes:
        assert c.display.strip()
        assert c.system in (ICD10CM, SNOMED, LOINC, RXNORM, ATC, YESNO)
        if c.level is not None:
            assert c.level in LEVELS
        if c.system == LOINC:
            assert re.fullmatch(r"\d{1,7}-\d", c.code) and loinc_ok(c.code), c.code
        elif c.system == SNOMED:
            assert re.fullmatch(r"\d{6,18}", c.code), c.code
            assert c.code[-3:-1] in ("00", "10"), f"{c.code} is not a concept id"
            assert verhoeff_ok(c.code), c.code
        elif c.system == RXNORM:
            assert re.fullmatch(r"\d{1,8}", c.code), c.code
        elif c.system == ATC:  # levels 1-5: A, A01, A01A, A01AA, A01AA01
            assert re.fullmatch(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?", c.code), c.code
            assert (len(c.code) == 7) == (c.match == "exact"), f"{c.code}: groups match as prefix"
        elif c.system == YESNO:
            assert c.code in ("Y", "N")
        else:
            exact = r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?"
            prefix = r"[A-Z](\d[0-9A-Z]?(\.[0-9A-Z]{0,4})?)?"
            assert re.fullmatch(prefix if c.match == "prefix" else exact, c.code), c.code


@pytest.mark.parametrize("vs_id", sorted(MAPS_TO))
def test_maps_to_targets_exist(vs_id: str) -> None:
    for c in terminology.load(vs_id).codes:
        assert c.maps_to in MAPS_TO[vs_id], c
    assert MAPS_TO["malignancy"] <= set(PatientFacts.model_fields)


def test_injury_code_levels_follow_the_icd_structure() -> None:
    """S32.0n is the n-th lumbar vertebra; S22.01-S22.04 the first four thoracic."""
    for c in terminology.load("vertebral-fracture").codes:
        m = re.fullmatch(r"S(22|32)\.0(\d)", c.code)
        if not m:
            continue
        region, n = m[1], int(m[2])
        if region == "32" and 1 <= n <= 5:
            assert c.level == f"L{n}"
        elif region == "22" and 1 <= n <= 4:
            assert c.level == f"T{n}"
        else:  # S22.00/S32.00 unspecified, S22.05-S22.08 a pair of vertebrae
            assert c.level is None and c.note


def test_only_single_vertebra_codes_carry_a_level() -> None:
    vs = terminology.load("vertebral-fracture")
    with_level = sorted(c.code for c in vs.codes if c.level)
    assert with_level == sorted(
        [f"S22.0{n}" for n in range(1, 5)] + [f"S32.0{n}" for n in range(1, 6)]
    )


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("S32.010A", "L1"),
        ("S32.059S", "L5"),
        ("S22.031A", "T3"),
        ("S22.081A", None),
        ("M80.08XA", None),
        ("M80.88XD", None),
        ("M48.54XA", None),
    ],
)
def test_prefix_matching_of_full_codes(code: str, level: str | None) -> None:
    entry = terminology.load("vertebral-fracture").find(ICD10CM, code)
    assert entry is not None
    assert entry.level == level


@pytest.mark.parametrize("code", ["M48.52XA", "M48.53XA", "S12.000A", "S32.10XA", "M80.051A"])
def test_codes_outside_the_thoracolumbar_spine_do_not_match(code: str) -> None:
    assert terminology.load("vertebral-fracture").find(ICD10CM, code) is None


def test_bone_drugs_have_an_ingredient_code() -> None:
    codes = terminology.load("osteoporosis-medication").codes
    coded = {c.maps_to for c in codes if c.system == RXNORM}
    for drug in sorted(d for d in coded if d):
        entry = ingredient_code(drug)
        assert entry is not None and entry.system == RXNORM, drug
    # ATC only (no RxNorm ingredient code listed): proposals carry no (non-RxNorm) coding
    assert {c.maps_to for c in codes if c.system == ATC} - coded == {
        "abaloparatide",
        "romosozumab",
        "strontium_ranelate",
        "calcitonin",
    }
    assert ingredient_code("strontium_ranelate") is None
    assert ingredient_code("abaloparatide") is None
