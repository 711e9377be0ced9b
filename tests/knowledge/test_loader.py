"""The knowledge files are validated at load time: bad files fail loudly, naming what is wrong."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebra.facts import DRUGS, FACT_NAMES
from vertebra.knowledge import KnowledgeError, load
from vertebra.knowledge.loader import load_from

DATA = Path(str(resources.files("vertebra.knowledge").joinpath("data")))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def edit(folder: Path, name: str, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = folder / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_shipped_knowledge_loads_and_is_versioned() -> None:
    kb = load()
    assert kb.version.startswith(kb.manifest.version + "+")
    assert len(kb.tables) >= 10
    assert all(len(t.rows) >= 1 for t in kb.tables)


def test_copy_loads_with_same_version(copy: Path) -> None:
    assert load_from(copy).version == load().version


def test_any_change_changes_the_version(copy: Path) -> None:
    edit(copy, "manifest.yaml", lambda d: d["changelog"].append("test change"))
    assert load_from(copy).version != load().version


IMG = "tables/30-imaging.yaml"
CASES: list[tuple[str, str, Callable[[dict], None], str]] = [  # type: ignore[type-arg]
    (IMG, "unknown key", lambda d: d["rows"][0].update(colour="red"), "colour"),
    (
        IMG,
        "unknown fact",
        lambda d: d["rows"][0]["when"].update(blood_type="A"),
        "unknown fact 'blood_type'",
    ),
    (
        IMG,
        "unknown source",
        lambda d: d["rows"][0].update(references=["nope-1999"]),
        "unknown source id 'nope-1999'",
    ),
    (
        IMG,
        "bad vocabulary",
        lambda d: d["rows"][0]["when"].update(sex="other"),
        "'other' is not a value of 'sex'",
    ),
    (
        IMG,
        "bad timing",
        lambda d: d["rows"][0]["then"].update(timing="someday"),
        "unknown timing 'someday'",
    ),
    (
        IMG,
        "referral without target",
        lambda d: d["rows"][0]["then"].update(category="referral"),
        "needs a target",
    ),
    (IMG, "missing test", lambda d: d["rows"][0].pop("test"), "test"),
    (IMG, "no references", lambda d: d["rows"][0].update(references=[]), "references"),
    (IMG, "duplicate row", lambda d: d["rows"].append(d["rows"][0]), "duplicate row id"),
    (
        "tables/50-analgesia.yaml",
        "analgesic without dose",
        lambda d: d["rows"][0]["then"].pop("dose"),
        "needs a dose",
    ),
    (
        "tables/50-analgesia.yaml",
        "unknown drug",
        lambda d: d["rows"][0]["then"].update(drug="aspirin"),
        "unknown drug 'aspirin'",
    ),
    (
        "tables/50-analgesia.yaml",
        "unknown conflict",
        lambda d: d["rows"][1]["then"].update(conflicts=["nope"]),
        "unknown conflict 'nope'",
    ),
    (
        "tables/50-analgesia.yaml",
        "requires unknown drug",
        lambda d: d["rows"][0]["then"].update(requires=["aspirin"]),
        "requires unknown drug 'aspirin'",
    ),
    (
        "safety.yaml",
        "safety unknown drug",
        lambda d: d["rows"][0].update(drugs=["aspirin"]),
        "unknown drug 'aspirin'",
    ),
    (
        "conflicts.yaml",
        "conflict unknown source",
        lambda d: d["conflicts"][0]["positions"][0].update(source="nope"),
        "unknown source id 'nope'",
    ),
    (
        "derived.yaml",
        "derived uses unknown fact",
        lambda d: d["derived"][0]["cases"][0]["when"].update(shoe_size=9),
        "unknown fact 'shoe_size'",
    ),
    ("bibliography.yaml", "source without year", lambda d: d["sources"][0].pop("year"), "year"),
    (
        "medicines.yaml",
        "bone drug group with an unknown drug",
        lambda d: d["bone_drug_groups"]["oral_bisphosphonate"]["members"].append("aspirin"),
        "bone drug group oral_bisphosphonate: unknown drug 'aspirin'",
    ),
    (
        "medicines.yaml",
        "bone drug group missing",
        lambda d: d["bone_drug_groups"].pop("long_interval_injection"),
        "bone_drug_groups must be exactly",
    ),
    (
        IMG,
        "malformed operator",
        lambda d: d["rows"][0]["when"].update(age={"between": 3}),
        "unknown operator",
    ),
]


@pytest.mark.parametrize(("name", "what", "change", "message"), CASES, ids=[c[1] for c in CASES])
def test_invalid_knowledge_fails_loudly(
    copy: Path,
    name: str,
    what: str,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    edit(copy, name, change)
    with pytest.raises(KnowledgeError) as err:
        load_from(copy)
    assert message in str(err.value)


def test_every_fact_and_drug_has_words_for_clinicians() -> None:
    kb = load()
    assert set(FACT_NAMES) <= set(kb.vocabulary.facts)
    assert set(DRUGS) <= set(kb.vocabulary.drugs)


def test_every_source_has_title_organisation_year() -> None:
    for s in load().sources:
        assert s.title and s.organisation and 1990 <= s.year <= 2026


def test_every_seed_is_in_the_bibliography_and_cited() -> None:
    kb = load()
    cited = {ref for r in kb.rows() for ref in r.row.references}
    seeds = [s.id for s in kb.sources if s.kind == "seed"]
    assert seeds == ["seed-000", "seed-001", "seed-002", "seed-003", "seed-004"]
    assert set(seeds) <= cited
