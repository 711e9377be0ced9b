"""Vertebral fractures described in report text, for single-patient FHIR intake.

A Bundle or CDS Hooks prefetch may hold no coded vertebral fracture but a radiology report
(DiagnosticReport ``conclusion`` / ``presentedForm``, DocumentReference attachments) that
describes one. The same reader as the population screen (:mod:`vertebra.language.reports`)
reads it; the facts taken from it are listed with the resource and the sentence, so the plan can
say where they came from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import date
from typing import Any

from vertebra.fhir.dates import parse_date
from vertebra.plan import TextEvidence

REPORT_TYPES = frozenset({"DiagnosticReport", "DocumentReference"})


__all__ = ["REPORT_TYPES", "TextEvidence", "read_fracture_reports", "report_texts"]


def _attachment_text(att: Any) -> str | None:
    if not isinstance(att, dict) or not isinstance(att.get("data"), str):
        return None
    ctype = str(att.get("contentType") or "text/plain").lower()
    if not ctype.startswith(("text/plain", "text/html")):
        return None
    try:
        text = base64.b64decode(att["data"], validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None
    if ctype.startswith("text/html"):
        from vertebra.language.reports import strip_html

        text = strip_html(text)
    return text


def report_texts(resource: dict[str, Any]) -> list[str]:
    """The readable texts of a DiagnosticReport or DocumentReference."""
    texts: list[str] = []
    if isinstance(resource.get("conclusion"), str):
        texts.append(resource["conclusion"])
    for form in resource.get("presentedForm") or []:
        if (t := _attachment_text(form)) is not None:
            texts.append(t)
    for content in resource.get("content") or []:
        if isinstance(content, dict) and (t := _attachment_text(content.get("attachment"))):
            texts.append(t)
    return texts


def _when(resource: dict[str, Any]) -> date | None:
    period = resource.get("effectivePeriod")
    for value in (
        resource.get("effectiveDateTime"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("issued"),
        resource.get("date"),
    ):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed.latest
    return None


def read_fracture_reports(resources: Iterable[dict[str, Any]]) -> list[TextEvidence]:
    """Each report that affirms a vertebral fracture, with its levels, acuity and sentence
    (reports marked entered-in-error or cancelled are not read)."""
    from vertebra.language.reports import read_report

    out: list[TextEvidence] = []
    for resource in resources:
        if resource.get("status") in ("entered-in-error", "cancelled"):
            continue
        for text in report_texts(resource):
            r = read_report(text)
            if r.verdict != "yes" or r.evidence is None:
                continue
            facts = ["vertebral fracture"]
            facts += ["fracture_levels"] if r.levels else []
            facts += ["acuity"] if r.acuity else []
            out.append(
                TextEvidence(
                    resource=f"{resource.get('resourceType')}/{resource.get('id')}",
                    date=_when(resource),
                    facts=facts,
                    levels=r.levels,
                    acuity=r.acuity,
                    sentence=r.evidence,
                )
            )
    return out
