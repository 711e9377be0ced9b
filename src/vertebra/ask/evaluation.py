"""Score an evaluation set for ``vertebra ask``: extraction per field, key points, declines.

An evaluation file (``tests/ask/eval_*.yaml``) holds ``today`` (the reference date for relative
dates) and ``questions``; each question has ``question``, ``covered``, ``facts`` (every patient
fact it states; an age range is ``[low, high]``), ``key_points`` (regular expressions searched in
the "Answer." paragraph alone) and optionally ``absent`` / ``first`` (patterns that must not /
must open that paragraph).

Run: ``uv run --frozen python -m vertebra.ask.evaluation tests/ask/eval_unseen.yaml``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Extractor = Callable[[str, dt.date], dict[str, Any]]


@dataclass
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    questions: int = 0
    fields: dict[str, FieldScore] = field(default_factory=dict)
    key_points: int = 0
    key_points_found: int = 0
    order_checks: int = 0
    order_passed: int = 0
    declines_expected: int = 0
    declines_right: int = 0
    answered_expected: int = 0
    answered_right: int = 0
    failures: list[str] = field(default_factory=list)

    def total(self) -> FieldScore:
        out = FieldScore()
        for s in self.fields.values():
            out.tp += s.tp
            out.fp += s.fp
            out.fn += s.fn
        return out

    def summary(self) -> dict[str, Any]:
        t = self.total()
        return {
            "questions": self.questions,
            "extraction": {
                "precision": round(t.precision, 3),
                "recall": round(t.recall, 3),
                "per_field": {
                    k: {
                        "precision": round(v.precision, 3),
                        "recall": round(v.recall, 3),
                        "tp": v.tp,
                        "fp": v.fp,
                        "fn": v.fn,
                    }
                    for k, v in sorted(self.fields.items())
                },
            },
            "key_points_in_answer_paragraph": f"{self.key_points_found}/{self.key_points}",
            "key_points_share": round(self.key_points_found / max(1, self.key_points), 3),
            "order_checks": f"{self.order_passed}/{self.order_checks}",
            "declined_when_expected": f"{self.declines_right}/{self.declines_expected}",
            "answered_when_expected": f"{self.answered_right}/{self.answered_expected}",
        }


def load(path: Path) -> tuple[dt.date, list[dict[str, Any]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    today = data.get("today", dt.date(2026, 11, 30))
    if isinstance(today, str):
        today = dt.date.fromisoformat(today)
    return today, list(data["questions"])


def answer_paragraph(markdown: str) -> str:
    """The "**Answer.**" paragraph of an answer (up to the first blank line)."""
    start = markdown.find("**Answer.**")
    if start < 0:
        return ""
    body = markdown[start + len("**Answer.**") :]
    return body.split("\n\n", 1)[0].strip()


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, list) and isinstance(got, list):
        if all(isinstance(x, int | float) for x in expected) and len(expected) == 2:
            return [float(x) for x in expected] == [float(x) for x in got]
        return sorted(map(str, expected)) == sorted(map(str, got))
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return abs(float(expected) - float(got)) < 0.51
    return bool(expected == got)


def score_extraction(report: Report, expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    wrong: list[str] = []
    for name in set(expected) | set(got):
        s = report.fields.setdefault(name, FieldScore())
        if name in expected and name in got:
            if _same(expected[name], got[name]):
                s.tp += 1
            else:
                s.fp += 1
                s.fn += 1
                wrong.append(f"{name}={got[name]!r} (expected {expected[name]!r})")
        elif name in expected:
            s.fn += 1
            wrong.append(f"{name} missed (expected {expected[name]!r})")
        else:
            s.fp += 1
            wrong.append(f"{name}={got[name]!r} not stated")
    return wrong


def current_extractor(question: str, today: dt.date) -> dict[str, Any]:
    """The extraction ``answer()`` uses, as contract-named facts (an age range as a list)."""
    from vertebra.ask.extract import extract

    ex = extract(question, today=today)
    values = dict(ex.values)
    age_range = getattr(ex, "age_range", None)
    if age_range is not None and "age" not in values:
        values["age"] = list(age_range)
    return values


def evaluate(
    items: list[dict[str, Any]], today: dt.date, extractor: Extractor = current_extractor
) -> Report:
    import vertebra.ask.core as core
    from vertebra.ask import answer

    answer_at = getattr(core, "answer_at", None)  # the injectable date, where it exists
    report = Report()
    for item in items:
        report.questions += 1
        q = item["question"]
        problems = score_extraction(report, item.get("facts") or {}, extractor(q, today))
        a = answer_at(q, today) if answer_at is not None else answer(q)
        para = answer_paragraph(a.answer)
        for k in item["key_points"]:
            report.key_points += 1
            if re.search(k, para, re.IGNORECASE):
                report.key_points_found += 1
            else:
                problems.append(f"key point /{k}/ not in the answer paragraph")
        for k in item.get("absent", []):
            report.order_checks += 1
            if re.search(k, para, re.IGNORECASE):
                problems.append(f"/{k}/ opens the answer paragraph")
            else:
                report.order_passed += 1
        if "first" in item:
            report.order_checks += 1
            if re.match(item["first"], para, re.IGNORECASE):
                report.order_passed += 1
            else:
                problems.append(f"answer does not start with /{item['first']}/")
        if item["covered"]:
            report.answered_expected += 1
            if a.covered:
                report.answered_right += 1
            else:
                problems.append("declined (expected an answer)")
        else:
            report.declines_expected += 1
            if not a.covered:
                report.declines_right += 1
            else:
                problems.append("answered (expected a decline)")
        if problems:
            report.failures.append(f"{q[:70]}: " + "; ".join(problems))
    return report


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or [Path("tests/ask/eval_unseen.yaml")]
    for path in paths:
        today, items = load(path)
        report = evaluate(items, today)
        print(f"== {path}")
        print(json.dumps(report.summary(), indent=2))
        for f in report.failures:
            print("  -", f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main([a for a in sys.argv[1:] if not a.startswith("-")]))
