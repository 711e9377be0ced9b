"""ValueSet.find uses an index; it must answer exactly as a scan of every entry in file order
(exact entries first, then the first prefix entry the code starts with: Code.matches)."""

from __future__ import annotations

from vertebra import terminology
from vertebra.terminology import Code, ValueSet


def _scan(vs: ValueSet, system: str | None, code: str | None) -> Code | None:
    if system is None or not code:
        return None
    for entry in vs.codes:
        if entry.match == "exact" and entry.matches(system, code):
            return entry
    for entry in vs.codes:
        if entry.match == "prefix" and entry.matches(system, code):
            return entry
    return None


def _probes(vs: ValueSet) -> list[tuple[str | None, str | None]]:
    out: list[tuple[str | None, str | None]] = [(None, "x"), (terminology.ICD10CM, ""), ("s", None)]
    for entry in vs.codes:
        for code in (entry.code, entry.code + "9", entry.code + ".1A", entry.code[:-1]):
            out += [(entry.system, code), (entry.system, code.lower()), ("other", code)]
            out += [(entry.system, code.replace(".", "")), (entry.system, " " + code)]
    return [*out, (terminology.ICD10CM, "J45.909"), (terminology.SNOMED, "195967001")]


def test_find_equals_a_scan_of_every_entry_on_every_shipped_value_set() -> None:
    for vs_id in terminology.available():
        vs = terminology.load(vs_id)
        for system, code in _probes(vs):
            assert vs.find(system, code) is _scan(vs, system, code), (vs_id, system, code)


def test_the_first_matching_prefix_in_the_file_wins_not_the_longest() -> None:
    icd = terminology.ICD10CM
    vs = ValueSet(
        id="t",
        title="t",
        references=[],
        codes=[
            Code(system=icd, code="M80.0", display="short first", match="prefix"),
            Code(system=icd, code="M80.08", display="longer", match="prefix"),
            Code(system=icd, code="S32", display="other", match="prefix"),
            Code(system=icd, code="S32.010A", display="exact", match="exact"),
        ],
    )
    assert vs.find(icd, "M80.08XA") is not None
    assert vs.find(icd, "m8008xa").display == "short first"  # type: ignore[union-attr]
    assert vs.find(icd, "S32.010A").display == "exact"  # type: ignore[union-attr]
    assert vs.find(icd, "S32.020A").display == "other"  # type: ignore[union-attr]
    assert vs.find(icd, "M8") is None
    assert vs.find(terminology.SNOMED, "M80.08") is None
