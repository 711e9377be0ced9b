"""The FHIR fields screening reads, declared once and rendered for each engine.

Only these fields are parsed; everything else in a resource is skipped by the JSON reader.
A line that is not valid JSON, or whose fields have the wrong JSON type, reads as a row of
nulls (``resourceType IS NULL``) and is counted as malformed.
"""

from __future__ import annotations

from typing import Union

Field = Union[str, "Struct", "Array"]
Struct = dict[str, Field]
Array = list[Field]

_CODING: Array = [{"system": "string", "code": "string"}]
_ATTACHMENT: Struct = {"contentType": "string", "data": "string"}
_BASE: Struct = {"resourceType": "string", "id": "string", "subject": {"reference": "string"}}

RESOURCES: dict[str, Struct] = {
    "Patient": {
        "resourceType": "string",
        "id": "string",
        # kept as raw JSON text (1.3x the bare Patient scan; parsed as structs it was 2.3x): the
        # worklist reads the first name and the MR identifier for its own rows only
        "name": "string",
        "identifier": "string",
        "gender": "string",
        "birthDate": "string",
        "deceasedDateTime": "string",
        "deceasedBoolean": "boolean",
    },
    "Condition": {
        **_BASE,
        "code": {"coding": _CODING},
        "onsetDateTime": "string",
        "onsetPeriod": {"start": "string"},
        "recordedDate": "string",
    },
    "Observation": {
        **_BASE,
        "status": "string",
        "code": {"coding": _CODING},
        "effectiveDateTime": "string",
        "effectivePeriod": {"start": "string"},
        "issued": "string",
        "valueQuantity": {"value": "double"},
    },
    "MedicationRequest": {
        **_BASE,
        "status": "string",
        "intent": "string",
        "medicationCodeableConcept": {"coding": _CODING},
        "authoredOn": "string",
    },
    "Procedure": {
        **_BASE,
        "status": "string",
        "code": {"coding": _CODING},
        "performedDateTime": "string",
        "performedPeriod": {"start": "string"},
    },
    "ServiceRequest": {
        **_BASE,
        "status": "string",
        "intent": "string",
        "code": {"coding": _CODING},
        "authoredOn": "string",
    },
    "Encounter": {**_BASE, "status": "string", "period": {"start": "string"}},
    # Report text (read for vertebral fractures no one coded): the conclusion and attached text.
    "DiagnosticReport": {
        **_BASE,
        "status": "string",
        "effectiveDateTime": "string",
        "effectivePeriod": {"start": "string"},
        "issued": "string",
        "conclusion": "string",
        "presentedForm": [_ATTACHMENT],
    },
    "DocumentReference": {
        **_BASE,
        "status": "string",
        "date": "string",
        "content": [{"attachment": _ATTACHMENT}],
    },
}

_DUCK = {"string": "VARCHAR", "double": "DOUBLE", "boolean": "BOOLEAN"}


def table_name(resource_type: str) -> str:
    """Name of the raw table the SQL reads for a resource type, e.g. ``raw_medicationrequest``."""
    return f"raw_{resource_type.lower()}"


def duckdb_type(field: Field) -> str:
    if isinstance(field, str):
        return _DUCK[field]
    if isinstance(field, list):
        return f"{duckdb_type(field[0])}[]"
    inner = ", ".join(f'"{k}" {duckdb_type(v)}' for k, v in field.items())
    return f"STRUCT({inner})"


def duckdb_columns(resource_type: str) -> dict[str, str]:
    """The ``columns=`` argument of DuckDB's ``read_json``."""
    return {k: duckdb_type(v) for k, v in RESOURCES[resource_type].items()}


def spark_type(field: Field) -> str:
    if isinstance(field, str):
        return field.upper()
    if isinstance(field, list):
        return f"ARRAY<{spark_type(field[0])}>"
    inner = ", ".join(f"`{k}`: {spark_type(v)}" for k, v in field.items())
    return f"STRUCT<{inner}>"


def spark_ddl(resource_type: str) -> str:
    """A Spark DDL schema string for ``DataFrameReader.schema``."""
    return ", ".join(f"`{k}` {spark_type(v)}" for k, v in RESOURCES[resource_type].items())
