"""Single-patient intake of report text: a Bundle or CDS Hooks prefetch whose only evidence of
the fracture is a radiology report plans with the levels and acuity read from the text, and the
plan says so, quoting the sentence."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vertebra.facts import FactsError
from vertebra.fhir import to_facts

SENTENCE = "Acute L1 compression fracture with marrow oedema."


def _report(**body: Any) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "mri-1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-20",
        "code": {"text": "MRI lumbar spine"},
        **body,
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1946-02-14"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, *resources)],
    }


def test_report_only_bundle_gives_levels_acuity_and_quoted_evidence() -> None:
    mapped = to_facts(
        bundle(_report(conclusion=f"{SENTENCE} No retropulsion.")), today=date(2026, 11, 30)
    )
    assert mapped.facts.fracture_levels == ["L1"]
    assert mapped.facts.days_since_onset == 10  # acute: the report date is taken as the onset
    (ev,) = mapped.text_evidence
    assert (ev.resource, ev.levels, ev.acuity, ev.sentence) == (
        "DiagnosticReport/mri-1",
        ["L1"],
        "acute",
        SENTENCE,
    )
    assert any("from report text, not coded" in n and SENTENCE in n for n in mapped.notes)


def test_old_fracture_in_a_base64_report_leaves_the_onset_unknown() -> None:
    data = base64.b64encode(b"IMPRESSION: Old T11-T12 wedge compression deformities.").decode()
    report = _report(presentedForm=[{"contentType": "text/plain", "data": data}])
    mapped = to_facts(bundle(report), today=date(2026, 11, 30))
    assert mapped.facts.fracture_levels == ["T11", "T12"]
    assert mapped.facts.days_since_onset is None
    assert mapped.text_evidence[0].acuity == "old"


def test_coded_fracture_wins_and_negated_reports_give_nothing() -> None:
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-11-10",
        "code": {"coding": [{"system": icd, "code": "S22.040A"}]},
    }
    mapped = to_facts(bundle(condition, _report(conclusion=SENTENCE)), today=date(2026, 11, 30))
    assert mapped.facts.fracture_levels == ["T4"] and mapped.text_evidence == []
    negated = _report(conclusion="No compression fracture. Vertebral body heights are maintained.")
    with pytest.raises(FactsError, match="fracture_levels"):
        to_facts(bundle(negated), today=date(2026, 11, 30))


def test_cli_plan_says_the_facts_came_from_report_text(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(_report(conclusion=SENTENCE))), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "vertebra", "plan", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["facts_from_text"] == [
        {
            "resource": "DiagnosticReport/mri-1",
            "date": "2026-11-20",
            "facts": ["vertebral fracture", "fracture_levels", "acuity"],
            "levels": ["L1"],
            "acuity": "acute",
            "sentence": SENTENCE,
        }
    ]


def test_cds_prefetch_with_a_report() -> None:
    from vertebra.fhir import prefetch_to_resources

    prefetch = {
        "patient": bundle()["entry"][0]["resource"],
        "reports": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": _report(conclusion=SENTENCE)}],
        },
    }
    mapped = to_facts(prefetch_to_resources(prefetch))
    assert mapped.facts.fracture_levels == ["L1"]
    assert mapped.text_evidence[0].sentence == SENTENCE
