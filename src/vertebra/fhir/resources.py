"""Getting FHIR resources out of what EHRs send: Bundles, lists, CDS Hooks prefetch, NDJSON.

Nothing here interprets clinical content; it only finds resources and who they belong to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vertebra.facts import FactsError

Resource = dict[str, Any]

# Keys that point at the patient a resource belongs to, by resource type convention.
_PATIENT_KEYS = ("subject", "patient", "beneficiary")
_NDJSON_NAME = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(\.[^.]+)*\.ndjson$")


def is_fhir(data: Any) -> bool:
    """True when ``data`` looks like a FHIR resource (a JSON object with ``resourceType``)."""
    return isinstance(data, dict) and isinstance(data.get("resourceType"), str)


def _error(field: str, message: str) -> FactsError:
    return FactsError.one(field, message, "fhir")


def _walk(
    item: Any, where: str, full_url: str | None = None
) -> Iterator[tuple[Resource, str | None]]:
    if not is_fhir(item):
        raise _error(where, "expected a FHIR resource (a JSON object with resourceType)")
    if item["resourceType"] == "Bundle":
        entries = item.get("entry") or []
        if not isinstance(entries, list):
            raise _error(f"{where}.entry", "Bundle.entry must be a list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _error(f"{where}.entry[{i}]", "Bundle entry must be a JSON object")
            resource = entry.get("resource")
            if resource is None:  # e.g. a transaction-response entry without a body
                continue
            if (entry.get("search") or {}).get("mode") == "outcome":
                continue  # search OperationOutcome, not patient data
            url = entry.get("fullUrl")
            yield from _walk(
                resource, f"{where}.entry[{i}].resource", url if isinstance(url, str) else None
            )
    else:
        yield item, full_url


def entries(data: Any) -> list[tuple[Resource, str | None]]:
    """Like :func:`to_resources`, each resource with its Bundle ``fullUrl`` (or ``None``)."""
    if isinstance(data, list):
        out: list[tuple[Resource, str | None]] = []
        for i, item in enumerate(data):
            out.extend(_walk(item, f"[{i}]"))
        return out
    if isinstance(data, dict) and not is_fhir(data):
        return _prefetch_entries(data)
    return list(_walk(data, "(body)"))


def to_resources(data: Any) -> list[Resource]:
    """Flatten a Bundle (any type, nested Bundles too), one resource, a list of them, or a
    CDS Hooks prefetch object.

    Raises :class:`FactsError` naming the offending item when something is not a resource.
    """
    return [resource for resource, _ in entries(data)]


def prefetch_to_resources(prefetch: dict[str, Any]) -> list[Resource]:
    """CDS Hooks prefetch (``{name: resource | Bundle | null}``) to a flat resource list.

    ``null`` entries (the EHR could not or would not prefetch) are skipped.
    """
    return [resource for resource, _ in _prefetch_entries(prefetch)]


def _prefetch_entries(prefetch: Any) -> list[tuple[Resource, str | None]]:
    if not isinstance(prefetch, dict):
        raise _error("prefetch", "prefetch must be a JSON object of name to resource")
    out: list[tuple[Resource, str | None]] = []
    for name in sorted(prefetch):
        value = prefetch[name]
        if value is None:
            continue
        out.extend(_walk(value, f"prefetch.{name}"))
    return out


def reference_id(ref: Any, resource_type: str) -> str | None:
    """The id in a reference to ``resource_type`` (``Patient/1``, ``http://x/Patient/1/_history/2``).

    ``urn:uuid:`` references are returned whole so they can be matched against ``fullUrl``.
    """
    if isinstance(ref, dict):
        ref = ref.get("reference")
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith(("urn:uuid:", "urn:oid:")):
        return ref
    parts = ref.split("?", 1)[0].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def patient_ref_of(resource: Resource) -> str | None:
    """The patient id (or ``urn:uuid:``) a resource belongs to; a Patient's own id."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for key in _PATIENT_KEYS:
        found = reference_id(resource.get(key), "Patient")
        if found:
            return found
    return None


def patient_keys(patient: Resource, full_url: str | None = None) -> set[str]:
    """Every string a reference to this Patient may use: its id and its Bundle fullUrl."""
    keys: set[str] = set()
    if isinstance(patient.get("id"), str):
        keys.add(patient["id"])
    if full_url:
        keys.add(full_url)
        tail = reference_id(full_url, "Patient")
        if tail:
            keys.add(tail)
    return keys


def split_by_patient(resources: Iterable[Resource]) -> dict[str, list[Resource]]:
    """Group a bulk export by patient: ``{patient id: [Patient, its resources, ...]}``.

    Resources that name no patient are left out, except Medication resources, which are
    copied to every patient whose requests or statements reference them.
    """
    items = list(resources)
    patients = [r for r in items if r.get("resourceType") == "Patient"]
    alias: dict[str, str] = {}
    groups: dict[str, list[Resource]] = {}
    for p in patients:
        pid = p.get("id")
        if not isinstance(pid, str):
            continue
        groups.setdefault(pid, []).append(p)
        for key in patient_keys(p):
            alias[key] = pid
    medications = {
        r["id"]: r
        for r in items
        if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)
    }
    for r in items:
        if r.get("resourceType") in ("Patient", "Medication"):
            continue
        ref = patient_ref_of(r)
        if ref is None:
            continue
        pid = alias.get(ref, ref)
        group = groups.setdefault(pid, [])
        group.append(r)
        med_id = reference_id(r.get("medicationReference"), "Medication")
        if med_id and med_id in medications and medications[med_id] not in group:
            group.append(medications[med_id])
    return groups


def read_ndjson(folder: str | Path) -> list[Resource]:
    """Read every ``Type.*.ndjson`` file in a bulk-export folder (sorted, deterministic).

    Other files (``log.ndjson``, manifests) are skipped. A line that is not JSON raises
    :class:`FactsError` naming the file and line.
    """
    root = Path(folder)
    out: list[Resource] = []
    for path in sorted(root.iterdir()):
        if not path.is_file() or not _NDJSON_NAME.match(path.name):
            continue
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                text = line.strip()
                if not text:
                    continue
                try:
                    item = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise _error(f"{path.name}:{number}", f"not valid JSON: {exc.msg}") from None
                if is_fhir(item):
                    out.append(item)
    return out
