"""Load, validate and compile the knowledge files."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, get_args

import orjson
import yaml
from pydantic import ValidationError

from vertebra import yamlfile
from vertebra.facts import (
    ALLERGY_CLASSES,
    BONE_DRUGS,
    DRUGS,
    FACT_NAMES,
    MEDICINE_CLASSES,
    MEDICINES,
    PatientFacts,
)
from vertebra.knowledge.conditions import (
    ConditionError,
    Evaluator,
    compile_condition,
    describe,
    facts_used,
)
from vertebra.knowledge.schema import (
    Bibliography,
    ConflictEntry,
    ConflictFile,
    Derived,
    DerivedFile,
    Manifest,
    Medicines,
    Row,
    SafetyRow,
    SafetyTable,
    Source,
    Table,
    Vocabulary,
)

DATA = "data"
#: The groups of bone drugs in ``medicines.yaml`` (``bone_drug_groups``) that FHIR intake reads.
BONE_DRUG_GROUPS = ("oral_bisphosphonate", "long_interval_injection")


class KnowledgeError(ValueError):
    """A knowledge file is invalid. The message names the file and the entry."""


@dataclass(frozen=True)
class CompiledRow:
    table_id: str
    table_index: int
    index: int
    row: Row
    when: Evaluator
    text: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class CompiledTable:
    table: Table
    index: int
    applies: Evaluator
    rows: tuple[CompiledRow, ...]
    inputs: tuple[str, ...]
    file: str


@dataclass(frozen=True)
class CompiledSafetyRow:
    row: SafetyRow
    when: Evaluator
    text: str
    drugs: frozenset[str]
    index: int = 0


@dataclass(frozen=True)
class CompiledDerived:
    spec: Derived
    cases: tuple[tuple[Evaluator, Any, str | None], ...]
    ask_when: Evaluator | None = None


@dataclass(frozen=True)
class Allergy:
    """A recorded allergy that rules a drug out: always ``contraindicated``."""

    caution: str
    """Why, as a sentence ("Recorded allergy to NSAIDs: naproxen is one of them.")."""
    title: str
    """Why, as a title phrase ("recorded allergy to NSAIDs")."""
    rationale: str
    """The facts it read ("Allergies: NSAIDs")."""
    action: str = "contraindicated"


@dataclass
class KnowledgeBase:
    manifest: Manifest
    version: str
    sources: tuple[Source, ...]
    vocabulary: Vocabulary
    medicines: Medicines
    derived: tuple[CompiledDerived, ...]
    tables: tuple[CompiledTable, ...]
    safety: SafetyTable
    safety_rows: tuple[CompiledSafetyRow, ...]
    conflicts: dict[str, ConflictEntry]
    slot_index: dict[str, int] = field(default_factory=dict)
    # The same words the compiled conditions use in rationales (facts and derived facts).
    _label: Callable[[str], str] = field(default=lambda name: name, repr=False)
    _show: Callable[[str, Any], str] = field(default=lambda fact, value: str(value), repr=False)
    _safety_by_drug: dict[str, tuple[CompiledSafetyRow, ...]] = field(
        default_factory=dict, repr=False
    )
    _safety_by_rec: dict[str, tuple[CompiledSafetyRow, ...]] = field(
        default_factory=dict, repr=False
    )
    _safety_by_table_row: dict[str, tuple[CompiledSafetyRow, ...]] = field(
        default_factory=dict, repr=False
    )
    allergy_drugs: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    """Allergen word (a drug or an allergy class) -> every drug the allergy rules out
    (``medicines.yaml``: a class names its members; a member of a cross-reactive class rules out
    the whole class)."""
    medicine_classes: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    """Medicine word (a medicine or a class) -> its classes (a class word is its own class)."""

    def label(self, fact: str) -> str:
        """A fact's (or derived fact's) name in words."""
        return self._label(fact)

    def show(self, fact: str, value: Any) -> str:
        """A fact's value in words."""
        return self._show(fact, value)

    def safety_for(self, drug: str) -> tuple[CompiledSafetyRow, ...]:
        """The drug-safety rows that name ``drug``, in file order."""
        return self._safety_by_drug.get(drug, ())

    def safety_rows_of(self, row: CompiledRow) -> tuple[CompiledSafetyRow, ...]:
        """Every safety row guarding a recommendation row: those naming its drug, then those
        naming the row itself (cached per row)."""
        found = self._safety_by_table_row.get(row.row.id)
        if found is None:
            drug = row.row.then.drug
            found = (self.safety_for(drug) if drug else ()) + self.safety_for_row(row.row.id)
            self._safety_by_table_row[row.row.id] = found
        return found

    def safety_for_row(self, row_id: str) -> tuple[CompiledSafetyRow, ...]:
        """The safety rows that name a recommendation (e.g. a procedure) by its row id."""
        return self._safety_by_rec.get(row_id, ())

    def bone_drug_group(self, name: str) -> frozenset[str]:
        """The members of a group of bone drugs (``medicines.yaml`` ``bone_drug_groups``; the
        names are :data:`BONE_DRUG_GROUPS`)."""
        return frozenset(self.medicines.bone_drug_groups[name].members)

    def allergy(self, drug: str, allergies: Sequence[str] | None) -> Allergy | None:
        """The allergy rule, for the plan and for a single drug alike: a recorded allergy to
        ``drug``, to its allergy class or to a member of a cross-reactive class it belongs to
        (``medicines.yaml``) contraindicates it. None when the allergies do not rule it out
        (or are unknown: the plan then names them as missing information)."""
        if allergies is None:
            return None
        for word in allergies:
            if drug not in self.allergy_drugs.get(word, ()):
                continue
            name = self.drug_name(drug)
            cls = self.medicines.allergy_classes.get(word)
            if word == drug:
                caution, title = f"Recorded allergy to {name}.", f"recorded allergy to {name}"
            elif cls is not None:
                caution = f"Recorded allergy to {cls.label}: {name} is one of them."
                title = f"recorded allergy to {cls.label}"
            else:
                labels = ", ".join(
                    c.label
                    for c in self.medicines.allergy_classes.values()
                    if c.cross_reactive and word in c.members and drug in c.members
                )
                other = self.drug_name(word)
                caution = (
                    f"Recorded allergy to {other}: allergic-type reactions cross-react within "
                    f"{labels}, so {name} is ruled out too."
                )
                title = f"recorded allergy to {other} ({labels} cross-react)"
            return Allergy(caution, title, f"Allergies: {self.show('allergies', allergies)}")
        return None

    def drug_name(self, drug: str) -> str:
        return self.vocabulary.drugs.get(drug, drug)

    def rows(self) -> Iterable[CompiledRow]:
        for table in self.tables:
            yield from table.rows


def _parse(name: str, raw: bytes) -> Any:
    try:
        return yamlfile.safe_load(raw)
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{name}: not valid YAML: {exc}") from None


PARSED = "parsed.json"
"""The shipped knowledge files as parsed YAML (JSON, beside this module), written by
``python -m vertebra.docgen``. Parsing the YAML is about half of a cold ``vertebra plan``'s
knowledge load: when the files read are exactly the files this was made from (their SHA-256),
the loader takes the parsed values from here instead, and validates everything all the same. A
changed file, a candidate folder or a stale ``parsed.json`` (tests/knowledge/test_parsed.py
fails) means parsing the YAML. It ships inside the package it was made for, so the package
version needs no place in the key; nor does PyYAML's: the values are those the tests checked,
whichever PyYAML release is installed."""


def _file_names(folder: Traversable) -> list[str]:
    tables = sorted(p.name for p in folder.joinpath("tables").iterdir() if p.name.endswith(".yaml"))
    return [*_FILES, *(f"tables/{name}" for name in tables)]


_FILES = (
    "manifest.yaml",
    "bibliography.yaml",
    "vocabulary.yaml",
    "medicines.yaml",
    "derived.yaml",
    "conflicts.yaml",
    "safety.yaml",
)


def _key(digest: str) -> str:
    return f"sha256:{digest}"


def _parsed(key: str) -> dict[str, Any] | None:
    """The parsed files of :data:`PARSED` when they were made from exactly these files."""
    try:
        raw = resources.files(__package__).joinpath(PARSED).read_bytes()
    except OSError:
        return None
    parsed = orjson.loads(raw)
    if not isinstance(parsed, dict) or parsed.get("key") != key:
        return None
    files: dict[str, Any] = parsed["files"]
    return files


def parsed_json(folder: Traversable | None = None) -> bytes:
    """The content of :data:`PARSED` for ``folder`` (default: the shipped knowledge)."""
    folder = folder or resources.files(__package__).joinpath(DATA)
    names = _file_names(folder)
    raws = {name: folder.joinpath(name).read_bytes() for name in names}
    files = {name: _parse(name, raws[name]) for name in names}
    text = orjson.dumps({"key": _key(_digest(raws)), "files": files}, option=orjson.OPT_INDENT_2)
    if orjson.loads(text)["files"] != files:  # e.g. a YAML date, which JSON cannot hold
        raise KnowledgeError(f"{PARSED}: the knowledge files do not survive JSON unchanged")
    return text + b"\n"


def _digest(raws: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name, raw in raws.items():
        digest.update(name.encode() + b"\0" + raw)
    return digest.hexdigest()


def _model(kind: Any, data: Any, where: str) -> Any:
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise KnowledgeError(f"{where}: {problems}") from None


def _allowed_values(fact: str) -> set[Any] | None:
    info = PatientFacts.model_fields.get(fact)
    if info is None:
        return None
    found: set[Any] = set()
    stack: list[Any] = [info.annotation]
    while stack:
        ann = stack.pop()
        if getattr(ann, "__origin__", None) is not None and str(ann.__origin__) == "typing.Literal":
            found.update(get_args(ann))
        else:
            stack.extend(get_args(ann))
    return found or None


class _Validator:
    """Checks conditions against known facts and vocabularies."""

    def __init__(self, derived_values: dict[str, set[Any]]) -> None:
        self.derived_values = derived_values

    def check(self, cond: Mapping[str, Any], where: str) -> None:
        for key, value in cond.items():
            if key in ("any", "all"):
                if not isinstance(value, list):
                    raise KnowledgeError(f"{where}: {key!r} takes a list")
                for sub in value:
                    self.check(sub, where)
                continue
            if key == "not":
                self.check(value, where)
                continue
            if key not in FACT_NAMES and key not in self.derived_values:
                raise KnowledgeError(f"{where}: unknown fact {key!r}")
            allowed = self.derived_values.get(key) or _allowed_values(key)
            if allowed is None:
                continue
            for word in _words(value):
                if word not in allowed:
                    raise KnowledgeError(
                        f"{where}: {word!r} is not a value of {key!r}; allowed: "
                        + ", ".join(sorted(map(str, allowed)))
                    )


def _words(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        out: list[Any] = []
        for op, arg in value.items():
            if op in ("unknown", "known", "count_gte", "count_lt", "lt", "lte", "gt", "gte"):
                continue
            out.extend(arg if isinstance(arg, list) else [arg])
        return out
    if isinstance(value, bool):
        return []
    return [value]


def _compile(kb_label: Any, kb_show: Any, cond: Mapping[str, Any], where: str) -> Evaluator:
    try:
        return compile_condition(cond, kb_label, kb_show)
    except ConditionError as exc:
        raise KnowledgeError(f"{where}: {exc}") from None


@cache
def load() -> KnowledgeBase:
    """Load and validate the shipped knowledge base (cached)."""
    return load_from(resources.files(__package__).joinpath(DATA))


def load_from(folder: Traversable) -> KnowledgeBase:
    """Load and validate a knowledge folder (the shipped one, or a candidate under review)."""
    # Loading allocates about 10^5 objects that live as long as the knowledge base, and no
    # cyclic garbage: the cyclic collector is paused meanwhile, rather than walking them every
    # 700 allocations (a third of the load time; bench/cli).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_from(folder)
    finally:
        if collecting:
            gc.enable()


def _load_from(folder: Traversable) -> KnowledgeBase:
    names = _file_names(folder)
    raws = {name: folder.joinpath(name).read_bytes() for name in names}
    digest = _digest(raws)
    parsed = _parsed(_key(digest))

    def read(name: str) -> Any:
        return parsed[name] if parsed is not None else _parse(name, raws[name])

    manifest: Manifest = _model(Manifest, read("manifest.yaml"), "manifest.yaml")
    bib: Bibliography = _model(Bibliography, read("bibliography.yaml"), "bibliography.yaml")
    vocab: Vocabulary = _model(Vocabulary, read("vocabulary.yaml"), "vocabulary.yaml")
    medicines: Medicines = _model(Medicines, read("medicines.yaml"), "medicines.yaml")
    _check_medicines(medicines)
    derived_file: DerivedFile = _model(DerivedFile, read("derived.yaml"), "derived.yaml")
    conflict_file: ConflictFile = _model(ConflictFile, read("conflicts.yaml"), "conflicts.yaml")
    safety: SafetyTable = _model(SafetyTable, read("safety.yaml"), "safety.yaml")
    tables: list[tuple[str, Table]] = []
    for path in names[len(_FILES) :]:
        tables.append((path.removeprefix("tables/"), _model(Table, read(path), path)))

    source_ids = [s.id for s in bib.sources]
    _unique(source_ids, "bibliography.yaml: source id")
    known_sources = set(source_ids)

    def refs(ids: Iterable[str], where: str) -> None:
        for ref in ids:
            if ref not in known_sources:
                raise KnowledgeError(f"{where}: unknown source id {ref!r}")

    for fact in FACT_NAMES:
        if fact not in vocab.facts:
            raise KnowledgeError(f"vocabulary.yaml: no label for fact {fact!r}")
    for drug in DRUGS:
        if drug not in vocab.drugs:
            raise KnowledgeError(f"vocabulary.yaml: no display name for drug {drug!r}")
    slot_ids = [s.id for s in vocab.timeline]
    _unique(slot_ids, "vocabulary.yaml: timeline slot")

    conflicts: dict[str, ConflictEntry] = {}
    for c in conflict_file.conflicts:
        if c.id in conflicts:
            raise KnowledgeError(f"conflicts.yaml: duplicate id {c.id!r}")
        refs((p.source for p in c.positions), f"conflicts.yaml: {c.id}")
        conflicts[c.id] = c

    # Derived facts, in order: each may use base facts and those defined before it.
    derived_values: dict[str, set[Any]] = {}
    label = _labeler(vocab, derived_file.derived)
    show = _shower(vocab)
    compiled_derived: list[CompiledDerived] = []
    for spec in derived_file.derived:
        where = f"derived.yaml: {spec.name}"
        if spec.name in FACT_NAMES or spec.name in derived_values:
            raise KnowledgeError(f"{where}: name already used")
        refs(spec.references, where)
        checker = _Validator(derived_values)
        kinds = sum((bool(spec.cases), spec.first_known is not None, spec.classes_of is not None))
        if kinds != 1:
            raise KnowledgeError(f"{where}: give exactly one of cases, first_known, classes_of")
        for fact in spec.first_known or ():
            if fact not in FACT_NAMES:
                raise KnowledgeError(f"{where}: first_known: unknown fact {fact!r}")
        if spec.classes_of is not None and spec.classes_of != "medications":
            raise KnowledgeError(f"{where}: classes_of reads the medications list only")
        cases = []
        for i, case in enumerate(spec.cases):
            checker.check(case.when, f"{where} case {i + 1}")
            cases.append(
                (_compile(label, show, case.when, f"{where} case {i + 1}"), case.value, case.why)
            )
        ask_when = None
        if spec.ask_when is not None:
            checker.check(spec.ask_when, f"{where} ask_when")
            ask_when = _compile(label, show, spec.ask_when, f"{where} ask_when")
        values: set[Any] = {c.value for c in spec.cases}
        if spec.default is not None:
            values.add(spec.default)
        if spec.classes_of is not None:
            values = set(medicines.classes)
        derived_values[spec.name] = values
        compiled_derived.append(CompiledDerived(spec, tuple(cases), ask_when))

    checker = _Validator(derived_values)
    row_ids: set[str] = set()
    compiled_tables: list[CompiledTable] = []
    for t_index, (name, table) in enumerate(tables):
        where = f"tables/{name}: {table.id}"
        checker.check(table.applies_when, f"{where} applies_when")
        applies = _compile(label, show, table.applies_when, f"{where} applies_when")
        rows: list[CompiledRow] = []
        inputs: dict[str, None] = dict.fromkeys(facts_used(table.applies_when))
        for r_index, row in enumerate(table.rows):
            rwhere = f"{where} row {row.id}"
            if row.id in row_ids:
                raise KnowledgeError(f"{rwhere}: duplicate row id")
            row_ids.add(row.id)
            refs(row.references, rwhere)
            checker.check(row.when, rwhere)
            _check_outcome(row, rwhere, set(slot_ids), conflicts)
            if row.then.category == "procedure" and row.then.decision is None:
                raise KnowledgeError(f"{rwhere}: a procedure row names its decision")
            _check_test_facts(row.test.fires_with, rwhere)
            if row.test.silent_with is not None:
                _check_test_facts(row.test.silent_with, rwhere)
            used = tuple(facts_used(row.when))
            inputs.update(dict.fromkeys(used))
            rows.append(
                CompiledRow(
                    table.id,
                    t_index,
                    r_index,
                    row,
                    _compile(label, show, row.when, rwhere),
                    describe(row.when, label, show),
                    used,
                )
            )
        compiled_tables.append(
            CompiledTable(table, t_index, applies, tuple(rows), tuple(inputs), name)
        )
    _unique([t.table.id for t in compiled_tables], "tables: table id")

    table_row_ids = set(row_ids)
    safety_rows: list[CompiledSafetyRow] = []
    for s_index, srow in enumerate(safety.rows):
        where = f"safety.yaml: {srow.id}"
        if srow.id in row_ids:
            raise KnowledgeError(f"{where}: duplicate row id")
        row_ids.add(srow.id)
        refs(srow.references, where)
        checker.check(srow.when, where)
        if not srow.drugs and not srow.recommendations:
            raise KnowledgeError(f"{where}: name the drugs or the recommendations it guards")
        for drug in srow.drugs:
            if drug not in DRUGS:
                raise KnowledgeError(f"{where}: unknown drug {drug!r}")
        for rec in srow.recommendations:
            if rec not in table_row_ids:
                raise KnowledgeError(f"{where}: unknown recommendation row {rec!r}")
        if (srow.action == "adjust") != (srow.dose is not None):
            raise KnowledgeError(f"{where}: an adjust row (and only an adjust row) gives a dose")
        _check_test_facts(srow.test.fires_with, where)
        safety_rows.append(
            CompiledSafetyRow(
                srow,
                _compile(label, show, srow.when, where),
                describe(srow.when, label, show),
                frozenset(srow.drugs),
                s_index,
            )
        )

    version = f"{manifest.version}+{digest[:10]}"
    return KnowledgeBase(
        manifest=manifest,
        version=version,
        sources=tuple(bib.sources),
        vocabulary=vocab,
        medicines=medicines,
        derived=tuple(compiled_derived),
        tables=tuple(compiled_tables),
        safety=safety,
        safety_rows=tuple(safety_rows),
        conflicts=conflicts,
        slot_index={s: i for i, s in enumerate(slot_ids)},
        _label=label,
        _show=show,
        _safety_by_drug={
            drug: tuple(r for r in safety_rows if drug in r.drugs)
            for drug in sorted({d for r in safety_rows for d in r.drugs})
        },
        _safety_by_rec={
            rec: tuple(r for r in safety_rows if rec in r.row.recommendations)
            for rec in sorted({x for r in safety_rows for x in r.row.recommendations})
        },
        allergy_drugs=_allergy_drugs(medicines),
        medicine_classes={
            **{name: frozenset(m.classes) for name, m in medicines.medicines.items()},
            **{name: frozenset((name,)) for name in medicines.classes},
        },
    )


def _allergy_drugs(med: Medicines) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {d: {d} for d in DRUGS}
    for name, cls in med.allergy_classes.items():
        out[name] = set(cls.members)
        if cls.cross_reactive:
            for member in cls.members:
                out[member] |= set(cls.members)
    return {k: frozenset(v) for k, v in out.items()}


def _labeler(vocab: Vocabulary, derived: list[Derived]) -> Callable[[str], str]:
    labels = {k: v.label for k, v in vocab.facts.items()}
    labels.update({d.name: d.label for d in derived})

    def label(name: str) -> str:
        return labels.get(name, name.replace("_", " "))

    return label


def _shower(vocab: Vocabulary) -> Callable[[str, Any], str]:
    cache: dict[tuple[str, Any, type], str] = {}

    def cached(fact: str, value: Any) -> str:
        """``show`` memoised for scalar values (it runs for every fired condition)."""
        if isinstance(value, list):
            return ", ".join(cached(fact, v) for v in value) or "none"
        key = (fact, value, type(value))
        text = cache.get(key)
        if text is None:
            text = cache[key] = show(fact, value)
        return text

    def show(fact: str, value: Any) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float):
            unit = vocab.facts[fact].unit if fact in vocab.facts else None
            return f"{value:g} {unit}" if unit else f"{value:g}"
        if isinstance(value, list):
            return ", ".join(show(fact, v) for v in value) or "none"
        if isinstance(value, str):
            if value in vocab.drugs:
                return vocab.drugs[value]
            return vocab.values.get(value, value.replace("_", " "))
        return str(value)

    return cached


def _check_medicines(med: Medicines) -> None:
    """The medicine and class words of the facts model and ``medicines.yaml`` must agree."""
    where = "medicines.yaml"
    if set(med.classes) != set(MEDICINE_CLASSES):
        raise KnowledgeError(
            f"{where}: classes must be exactly {sorted(MEDICINE_CLASSES)}; "
            f"got {sorted(med.classes)}"
        )
    named = set(med.medicines) | set(med.classes)
    if named != set(MEDICINES):
        raise KnowledgeError(
            f"{where}: medicines and classes must match the `medications` vocabulary; "
            f"missing {sorted(set(MEDICINES) - named)}, unknown {sorted(named - set(MEDICINES))}"
        )
    for name, entry in med.medicines.items():
        for cls in entry.classes:
            if cls not in med.classes:
                raise KnowledgeError(f"{where}: {name}: unknown class {cls!r}")
    if set(med.allergy_classes) != set(ALLERGY_CLASSES):
        raise KnowledgeError(f"{where}: allergy_classes must be exactly {sorted(ALLERGY_CLASSES)}")
    for name, ac in med.allergy_classes.items():
        for drug in ac.members:
            if drug not in DRUGS:
                raise KnowledgeError(f"{where}: allergy class {name}: unknown drug {drug!r}")
    if set(med.bone_drug_groups) != set(BONE_DRUG_GROUPS):
        raise KnowledgeError(
            f"{where}: bone_drug_groups must be exactly {sorted(BONE_DRUG_GROUPS)}; "
            f"got {sorted(med.bone_drug_groups)}"
        )
    for name, group in med.bone_drug_groups.items():
        for drug in group.members:
            if drug not in BONE_DRUGS:
                raise KnowledgeError(f"{where}: bone drug group {name}: unknown drug {drug!r}")


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise KnowledgeError(f"{what} {i!r} is duplicated")
        seen.add(i)


def _check_outcome(row: Row, where: str, slots: set[str], conflicts: Mapping[str, Any]) -> None:
    out = row.then
    if out.timing not in slots:
        raise KnowledgeError(f"{where}: unknown timing {out.timing!r}; allowed: {sorted(slots)}")
    if out.category == "referral" and (out.target is None or out.urgency is None):
        raise KnowledgeError(f"{where}: a referral needs a target and an urgency")
    if out.category != "referral" and out.target is not None:
        raise KnowledgeError(f"{where}: only referrals have a target")
    if out.category == "imaging" and out.urgency is None:
        raise KnowledgeError(f"{where}: imaging needs an urgency")
    if out.category not in ("referral", "imaging") and out.urgency is not None:
        raise KnowledgeError(f"{where}: only referrals and imaging have an urgency")
    if out.drug is not None and out.drug not in DRUGS:
        raise KnowledgeError(f"{where}: unknown drug {out.drug!r}")
    if (
        out.drug is not None
        and out.category == "analgesia"
        and out.action in ("do", "consider")
        and not out.dose
    ):
        raise KnowledgeError(f"{where}: an analgesic recommendation needs a dose with its source")
    for other in out.only_if_unusable:
        if other not in DRUGS:
            raise KnowledgeError(f"{where}: only_if_unusable: unknown drug {other!r}")
    for companion in out.requires:
        if companion not in DRUGS:
            raise KnowledgeError(f"{where}: requires unknown drug {companion!r}")
    for c in out.conflicts:
        if c not in conflicts:
            raise KnowledgeError(f"{where}: unknown conflict {c!r}")


def _check_test_facts(facts: Mapping[str, Any], where: str) -> None:
    for key in facts:
        if key not in FACT_NAMES:
            raise KnowledgeError(f"{where}: test uses unknown fact {key!r}")
