from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vertebra.synth import generate


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_workers_do_not_matter(tmp_path: Path) -> None:
    generate(1500, tmp_path / "a", seed=3)
    generate(1500, tmp_path / "b", seed=3, workers=2)
    generate(1500, tmp_path / "c", seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_every_line_is_fhir_shaped_json_and_the_manifest_lists_the_files(tmp_path: Path) -> None:
    counts = generate(800, tmp_path, seed=1)
    assert counts["Patient"] == 800
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    listed = {o["url"]: o for o in manifest["output"]}
    patients: set[str] = set()
    refs: set[str] = set()
    for name, entry in listed.items():
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == entry["count"]
        for line in lines:
            r = json.loads(line)
            assert r["resourceType"] == entry["type"]
            if r["resourceType"] == "Patient":
                patients.add(r["id"])
            else:
                refs.add(r["subject"]["reference"].removeprefix("Patient/"))
    assert len(patients) == 800
    assert refs <= patients


def test_prevalence_is_realistic(tmp_path: Path) -> None:
    generate(6000, tmp_path, seed=5)
    fracture_codes = {
        "15724005",
        "S32.010A",
        "S22.040A",
        "M80.08XA",
        "359817006",
        "65966004",
        "263102004",
        "443165006",
    }
    with_fracture = set()
    for line in (tmp_path / "Condition.000.ndjson").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["code"]["coding"][0]["code"] in fracture_codes:
            with_fracture.add(r["subject"]["reference"])
    # About 1 in 12 of the roughly half who are 50+.
    assert 100 < len(with_fracture) < 400
