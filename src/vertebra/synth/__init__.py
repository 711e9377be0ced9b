"""Deterministic synthetic FHIR R4 bulk exports for tests and benchmarks (``vertebra synth``).

Resources have the shape of Synthea's US Core output (meta, identifiers, display text) so that
file sizes and parse costs are realistic. Every code comes from the shipped value sets or from the
Synthea sample. The same ``seed`` and ``patients`` always give byte-identical files.

Prevalence and timings (per patient aged 50+): a fragility fracture in the last five years for
about 1 in 12; of those, DXA within 12 weeks for ~35 %, an osteoporosis drug started within 16
weeks for ~30 %, started late for ~12 %, and of starters ~40 % stop before a year. Some have an
eGFR, a quarter of which are below 35 mL/min.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import IO

REFERENCE_DATE = date(2025, 6, 30)
CHUNK = 100_000
TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Procedure",
    "ServiceRequest",
    "DiagnosticReport",
)

SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LNC = "http://loinc.org"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

# (system, code, display, site, level)
FRACTURES = [
    (SCT, "15724005", "Fracture of vertebral column without spinal cord injury", "vertebral", None),
    (ICD, "S32.010A", "Wedge compression fracture of first lumbar vertebra", "vertebral", "L1"),
    (ICD, "S22.040A", "Wedge compression fracture of fourth thoracic vertebra", "vertebral", "T4"),
    (
        ICD,
        "M80.08XA",
        "Age-related osteoporosis with current pathological fracture, vertebra(e)",
        "vertebral",
        None,
    ),
    (SCT, "359817006", "Closed fracture of hip", "hip", None),
    (SCT, "65966004", "Fracture of forearm", "forearm", None),
    (SCT, "263102004", "Fracture subluxation of wrist", "wrist", None),
    (SCT, "443165006", "Pathological fracture due to osteoporosis (disorder)", "unspecified", None),
]
FRACTURE_WEIGHTS = [18, 8, 4, 6, 20, 20, 10, 14]
BACKGROUND_CONDITIONS = [
    ("15777000", "Prediabetes"),
    ("55822004", "Hyperlipidemia"),
    ("444814009", "Viral sinusitis (disorder)"),
    ("73595000", "Stress (finding)"),
]
DRUGS = [
    ("904419", "Alendronic acid 10 MG Oral Tablet"),
    ("77655", "zoledronic acid"),
    ("993449", "denosumab"),
    ("73056", "risedronate"),
]
DRUG_WEIGHTS = [60, 15, 15, 10]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ts(d: date, rng: random.Random) -> str:
    return f"{d.isoformat()}T{rng.randrange(6, 20):02d}:{rng.randrange(60):02d}:16-05:00"


def _subject(pid: str) -> str:
    return f'"subject":{{"reference":"Patient/{pid}"}}'


def _meta(profile: str) -> str:
    return f'"meta":{{"profile":["http://hl7.org/fhir/us/core/StructureDefinition/{profile}"]}}'


def _coding(system: str, code: str, display: str) -> str:
    d = json.dumps(display)
    return f'{{"coding":[{{"system":"{system}","code":"{code}","display":{d}}}],"text":{d}}}'


class _Writer:
    def __init__(self, rng: random.Random, reports: _Writer | None = None) -> None:
        self.rng = rng
        self.out: dict[str, list[str]] = {t: [] for t in TYPES}
        # Report text has its own random stream (the coded data stay as they were).
        self.reports = reports

    def encounter(self, pid: str, when: date, reason: str | None = None) -> str:
        eid = _uuid(self.rng)
        ts = _ts(when, self.rng)
        rc = f',"reasonCode":[{_coding(SCT, reason, "Reason")}]' if reason else ""
        self.out["Encounter"].append(
            f'{{"resourceType":"Encounter","id":"{eid}",{_meta("us-core-encounter")},'
            f'"identifier":[{{"use":"official","system":"https://github.com/synthetichealth/'
            f'synthea","value":"{eid}"}}],"status":"finished","class":{{"system":'
            f'"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}},"type":['
            f"{_coding(SCT, '185349003', 'Encounter for check up (procedure)')}],{_subject(pid)},"
            f'"participant":[{{"individual":{{"reference":"Practitioner?identifier=http://hl7.org/'
            f'fhir/sid/us-npi|9999947499","display":"Dr. Roland928 Hirthe744"}}}}],'
            f'"period":{{"start":"{ts}","end":"{ts}"}}{rc},"serviceProvider":{{"reference":'
            f'"Organization?identifier=https://github.com/synthetichealth/synthea|ef58ea08"}}}}'
        )
        return eid

    def condition(self, pid: str, eid: str, code: tuple[str, str, str], when: date) -> None:
        ts = _ts(when, self.rng)
        self.out["Condition"].append(
            f'{{"resourceType":"Condition","id":"{_uuid(self.rng)}",'
            f'{_meta("us-core-condition-encounter-diagnosis")},"clinicalStatus":{{"coding":'
            f'[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":'
            f'"active"}}]}},"verificationStatus":{{"coding":[{{"system":"http://terminology.hl7.'
            f'org/CodeSystem/condition-ver-status","code":"confirmed"}}]}},"category":[{{"coding":'
            f'[{{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":'
            f'"encounter-diagnosis","display":"Encounter Diagnosis"}}]}}],'
            f'"code":{_coding(*code)},{_subject(pid)},"encounter":{{"reference":"Encounter/{eid}"}},'
            f'"onsetDateTime":"{ts}","recordedDate":"{ts}"}}'
        )

    def observation(
        self, pid: str, eid: str, code: tuple[str, str, str], when: date, value: float, unit: str
    ) -> None:
        ts = _ts(when, self.rng)
        self.out["Observation"].append(
            f'{{"resourceType":"Observation","id":"{_uuid(self.rng)}",{_meta("us-core-observation-lab")},'
            f'"status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/'
            f'CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}}]}}],'
            f'"code":{_coding(*code)},{_subject(pid)},"encounter":{{"reference":"Encounter/{eid}"}},'
            f'"effectiveDateTime":"{ts}","issued":"{ts}","valueQuantity":{{"value":{value},'
            f'"unit":"{unit}","system":"http://unitsofmeasure.org","code":"{unit}"}}}}'
        )

    def medication(
        self, pid: str, eid: str, code: tuple[str, str], when: date, status: str
    ) -> None:
        ts = _ts(when, self.rng)
        self.out["MedicationRequest"].append(
            f'{{"resourceType":"MedicationRequest","id":"{_uuid(self.rng)}",'
            f'{_meta("us-core-medicationrequest")},"status":"{status}","intent":"order",'
            f'"category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/'
            f'medicationrequest-category","code":"community","display":"Community"}}],"text":'
            f'"Community"}}],"medicationCodeableConcept":{_coding(RXN, *code)},{_subject(pid)},'
            f'"encounter":{{"reference":"Encounter/{eid}"}},"authoredOn":"{ts}","requester":'
            f'{{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999947499",'
            f'"display":"Dr. Roland928 Hirthe744"}}}}'
        )

    def procedure(self, pid: str, eid: str, code: tuple[str, str], when: date) -> None:
        ts = _ts(when, self.rng)
        self.out["Procedure"].append(
            f'{{"resourceType":"Procedure","id":"{_uuid(self.rng)}",{_meta("us-core-procedure")},'
            f'"status":"completed","code":{_coding(SCT, *code)},{_subject(pid)},'
            f'"encounter":{{"reference":"Encounter/{eid}"}},"performedPeriod":{{"start":"{ts}",'
            f'"end":"{ts}"}},"location":{{"reference":"Location?identifier=https://github.com/'
            f'synthetichealth/synthea|3b23bdf7","display":"NEWMAN MEMORIAL COUNTY HOSPITAL"}}}}'
        )

    def service_request(self, pid: str, when: date) -> None:
        self.out["ServiceRequest"].append(
            f'{{"resourceType":"ServiceRequest","id":"{_uuid(self.rng)}","status":"completed",'
            f'"intent":"order","code":{_coding(SCT, "312681000", "Bone density scan (procedure)")},'
            f'{_subject(pid)},"authoredOn":"{_ts(when, self.rng)}"}}'
        )


# Imaging report text (DiagnosticReport). About 2 reports per patient; about 3 % describe a
# vertebral fracture (mostly in people aged 50+), about 12 % carry decoys with fracture or spine
# words (negations, normal heights, rib fractures, "wedge-shaped opacity", degenerative
# changes). Phrasing as in tests/screen/data (public reporting guidance, Genant grades).
REPORT_STUDIES = [
    ("36643-5", "XR Chest 2 Views"),
    ("24972-2", "XR Thoracic spine"),
    ("24979-7", "XR Lumbar spine"),
    ("30746-2", "CT Chest"),
    ("24558-9", "CT Abdomen and Pelvis"),
    ("24596-9", "MR Lumbar spine"),
]
NORMAL_SENTENCES = [
    "Lungs are clear.",
    "No pleural effusion or pneumothorax.",
    "Heart size is normal.",
    "No focal consolidation.",
    "Mediastinal contours are within normal limits.",
    "No acute abnormality.",
    "Liver, spleen and pancreas are unremarkable.",
    "No free fluid.",
    "Mild aortic atherosclerosis.",
    "Stable appearance since [DATE].",
]
DECOY_SENTENCES = [
    "No acute fracture.",
    "Vertebral body heights are maintained.",
    "No compression deformity.",
    "Healed fractures of the left {n}th and {m}th ribs.",
    "Degenerative changes of the spine.",
    "Wedge-shaped opacity in the right upper lobe.",
    "No evidence of vertebral fracture.",
    "Nondisplaced fracture of the right clavicle.",
    "Schmorl's node at {lv}. No fracture.",
    "Disc space narrowing at L4-L5 with endplate sclerosis.",
]
UNCERTAIN_SENTENCES = [
    "Cannot exclude a subtle {lv} compression fracture.",
    "Possible mild compression fracture of {lv}.",
]
FRACTURE_SENTENCES = [
    "{acuity} {lv} compression fracture with approximately {pct}% loss of height.",
    "{acuity} anterior wedge deformity of {lv}.",
    "{grade} biconcave fracture of {lv}.",
    "Compression fractures {lv}-{lv2}.",
    "{acuity} {lv} compression fracture with marrow oedema.",
    "Age-indeterminate anterior wedge deformity of a midthoracic vertebra.",
    "Vertebra plana of {lv}.",
    "{grade} wedge compression deformity of {lv}, unchanged.",
]
REPORT_LEVELS = ["T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4"]
_NEXT = dict(itertools.pairwise(REPORT_LEVELS))


def _report_text(rng: random.Random, kind: str) -> str:
    lv = rng.choice(REPORT_LEVELS)
    fill = {
        "lv": lv,
        "lv2": _NEXT.get(lv, "L5"),
        "n": rng.randrange(4, 8),
        "m": rng.randrange(8, 11),
        "pct": rng.randrange(20, 60, 5),
        "acuity": rng.choice(["Acute", "Chronic", "Old", "Healed", "Age-indeterminate"]),
        "grade": rng.choice(["Mild", "Moderate", "Severe"]),
    }
    sentences = rng.sample(NORMAL_SENTENCES, rng.randrange(1, 4))
    if kind == "fracture":
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(FRACTURE_SENTENCES))
    elif kind == "uncertain":
        sentences.append(rng.choice(UNCERTAIN_SENTENCES))
    if kind == "decoy" or rng.random() < 0.05:
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(DECOY_SENTENCES))
    return " ".join(sentences).format(**fill)


def _reports(w: _Writer, pid: str, age: int, visits: list[date]) -> None:
    rng = w.rng
    p_fracture = 0.05 if age >= 50 else 0.005
    for _ in range(rng.choice((1, 2, 2, 3))):
        u = rng.random()
        kind = (
            "fracture"
            if u < p_fracture
            else "uncertain"
            if u < p_fracture + 0.005
            else "decoy"
            if u < p_fracture + 0.125
            else "normal"
        )
        text = _report_text(rng, kind)
        when = rng.choice(visits)
        loinc, title = rng.choice(REPORT_STUDIES)
        v = rng.random()
        if v < 0.7:
            body = f'"conclusion":{json.dumps(text)}'
        elif v < 0.95:
            data = base64.b64encode(f"{title}\n\nIMPRESSION: {text}".encode()).decode()
            body = f'"presentedForm":[{{"contentType":"text/plain","data":"{data}"}}]'
        else:
            page = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"
            data = base64.b64encode(page.encode()).decode()
            body = f'"presentedForm":[{{"contentType":"text/html","data":"{data}"}}]'
        w.out["DiagnosticReport"].append(
            f'{{"resourceType":"DiagnosticReport","id":"{_uuid(rng)}","status":"final",'
            f'"category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/v2-0074",'
            f'"code":"RAD","display":"Radiology"}}]}}],"code":{_coding(LNC, loinc, title)},'
            f'{_subject(pid)},"effectiveDateTime":"{_ts(when, rng)}",{body}}}'
        )


def _patient(w: _Writer, index: int) -> None:
    rng = w.rng
    pid = _uuid(rng)
    age = min(int(rng.triangular(0, 100, 55)), 99)
    female = rng.random() < 0.55
    birth = REFERENCE_DATE - timedelta(days=age * 365 + rng.randrange(365))
    deceased = rng.random() < 0.03 and age > 70
    dec = (
        f',"deceasedDateTime":"{_ts(REFERENCE_DATE - timedelta(days=30), rng)}"' if deceased else ""
    )
    w.out["Patient"].append(
        f'{{"resourceType":"Patient","id":"{pid}",{_meta("us-core-patient")},"identifier":[{{'
        f'"system":"https://github.com/synthetichealth/synthea","value":"{pid}"}},{{"type":'
        f"{_coding(V2_0203, 'MR', 'Medical Record Number')},"
        f'"system":"http://hospital.smarthealthit.org","value":"{pid}"}}],"name":[{{"use":'
        f'"official","family":"Synth{index % 997}","given":["Pat{index % 991}"]}}],'
        f'"gender":"{"female" if female else "male"}","birthDate":"{birth.isoformat()}"{dec},'
        f'"address":[{{"city":"Olathe","state":"Kansas","country":"US"}}]}}'
    )
    visits = sorted(
        REFERENCE_DATE - timedelta(days=rng.randrange(1, 3650)) for _ in range(rng.randrange(2, 6))
    )
    eids = [w.encounter(pid, d) for d in visits]
    for _ in range(rng.randrange(0, 3)):
        code, display = rng.choice(BACKGROUND_CONDITIONS)
        w.condition(pid, rng.choice(eids), (SCT, code, display), rng.choice(visits))
    if age >= 45 and rng.random() < 0.3:
        w.medication(
            pid, eids[-1], ("314231", "Simvastatin 10 MG Oral Tablet"), visits[-1], "active"
        )
    if age >= 18 and rng.random() < 0.25:
        w.procedure(pid, eids[0], ("171207006", "Depression screening (procedure)"), visits[0])
    if age >= 50 and rng.random() < 1 / 12:
        _fracture(w, pid, age)
    if w.reports is not None:
        _reports(w.reports, pid, age, visits)


def _fracture(w: _Writer, pid: str, age: int) -> None:
    rng = w.rng
    when = REFERENCE_DATE - timedelta(days=rng.randrange(0, 5 * 365))
    system, code, display, _site, _level = rng.choices(FRACTURES, FRACTURE_WEIGHTS)[0]
    eid = w.encounter(pid, when)
    w.condition(pid, eid, (system, code, display), when)
    if rng.random() < 0.15:  # an earlier fracture
        earlier = when - timedelta(days=rng.randrange(200, 2000))
        s2, c2, d2, _, _ = rng.choices(FRACTURES, FRACTURE_WEIGHTS)[0]
        w.condition(pid, w.encounter(pid, earlier), (s2, c2, d2), earlier)
    if rng.random() < 0.45:
        w.service_request(pid, when + timedelta(days=rng.randrange(0, 30)))
    u = rng.random()
    if u < 0.35:
        dxa_day = when + timedelta(days=rng.randrange(3, 84))
    elif u < 0.55:
        dxa_day = when + timedelta(days=rng.randrange(85, 400))
    else:
        dxa_day = None
    if dxa_day is not None and dxa_day <= REFERENCE_DATE:
        e = w.encounter(pid, dxa_day)
        w.procedure(pid, e, ("312681000", "Bone density scan (procedure)"), dxa_day)
        w.observation(
            pid,
            e,
            (LNC, "38265-5", "DXA [T-score] Bone density"),
            dxa_day,
            round(rng.uniform(-4.2, -0.5), 1),
            "{T-score}",
        )
    if rng.random() < 0.4:
        egfr_day = when + timedelta(days=rng.randrange(-200, 200))
        if egfr_day <= REFERENCE_DATE:
            value = (
                round(rng.uniform(15, 34), 1)
                if rng.random() < 0.25
                else round(rng.uniform(35, 110), 1)
            )
            w.observation(
                pid,
                w.encounter(pid, egfr_day),
                (LNC, "33914-3", "Glomerular filtration rate/1.73 sq M.predicted"),
                egfr_day,
                value,
                "mL/min/{1.73_m2}",
            )
    u = rng.random()
    if u < 0.30:
        start = when + timedelta(days=rng.randrange(5, 112))
    elif u < 0.42:
        start = when + timedelta(days=rng.randrange(113, 500))
    else:
        return
    drug = rng.choices(DRUGS, DRUG_WEIGHTS)[0]
    stops = rng.random() < 0.4
    day = start
    while day <= REFERENCE_DATE:
        last = day + timedelta(days=365) > REFERENCE_DATE
        status = "active" if last and not stops else "stopped"
        w.medication(pid, w.encounter(pid, day), drug, day, status)
        if stops:
            break
        day += timedelta(days=365)


def _chunk(args: tuple[int, int, int, bool]) -> dict[str, list[str]]:
    seed, start, count, reports = args
    text = _Writer(random.Random(f"{seed}:{start}:reports")) if reports else None
    w = _Writer(random.Random(f"{seed}:{start}"), text)
    for i in range(start, start + count):
        _patient(w, i)
    if text is not None:
        w.out["DiagnosticReport"] = text.out["DiagnosticReport"]
    return w.out


def _open(path: Path, compress: bool) -> IO[str]:
    if compress:
        return gzip.open(path, "wt", encoding="utf-8", compresslevel=1)
    return path.open("w", encoding="utf-8")


def generate(
    patients: int,
    out_dir: Path,
    seed: int = 0,
    compress: bool = False,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    reports: bool = True,
) -> dict[str, int]:
    """Write ``Type.NNN.ndjson`` files and a bulk manifest; returns resource counts per type.
    ``reports=False`` leaves out the DiagnosticReport text (the coded data are the same)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(seed, s, min(CHUNK, patients - s), reports) for s in range(0, patients, CHUNK)]
    counts = dict.fromkeys(TYPES, 0)
    ext = ".ndjson.gz" if compress else ".ndjson"
    outputs: list[dict[str, object]] = []

    def results() -> Iterator[dict[str, list[str]]]:
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers) as pool:
                yield from pool.map(_chunk, jobs)
        else:
            yield from map(_chunk, jobs)

    for n, (job, res) in enumerate(zip(jobs, results(), strict=True)):
        for rtype in TYPES:
            lines = res[rtype]
            if not lines:
                continue
            name = f"{rtype}.{n:03d}{ext}"
            with _open(out_dir / name, compress) as fh:
                fh.write("\n".join(lines))
                fh.write("\n")
            counts[rtype] += len(lines)
            outputs.append({"type": rtype, "url": name, "count": len(lines)})
        if progress:
            progress(job[2])
    manifest = {
        "transactionTime": f"{REFERENCE_DATE.isoformat()}T00:00:00Z",
        "request": f"synthetic://vertebra/$export?patients={patients}&seed={seed}",
        "requiresAccessToken": False,
        "output": outputs,
        "error": [],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return counts
