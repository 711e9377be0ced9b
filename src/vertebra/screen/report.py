"""The self-contained HTML report (inline SVG charts, no scripts, no external resources)."""

from __future__ import annotations

from html import escape
from importlib import resources
from typing import Any

import jinja2
import pyarrow as pa
from markupsafe import Markup

from vertebra.screen import labels

PREVIEW_ROWS = 50


def bar_chart(items: list[tuple[str, int, str]], total: int, width: int = 640) -> Markup:
    """Horizontal bars: (label, value, caption) per row, scaled to ``total``."""
    row_h, label_w = 34, 250
    height = row_h * len(items) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    bar_max = width - label_w - 120
    for i, (label, value, caption) in enumerate(items):
        y = 5 + i * row_h
        w = 0 if total <= 0 else round(bar_max * value / total)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" font-size="13">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1)}" height="24" fill="#2f6f9f">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + max(w, 1) + 6}" y="{y + 20}" font-size="13">'
            f"{escape(caption)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(values: list[int], bucket: int, buckets: int, width: int = 640) -> Markup:
    """Vertical bars of ``values`` (days) in ``bucket``-day bins. The bins cover the values
    (``buckets`` of them, more if a value lies beyond); the last bin includes its upper day, so
    day 112 counts in "14-16 weeks" (no always-empty open bin)."""
    top_day = max(values, default=0)
    buckets = max(buckets, -(-top_day // bucket))
    counts = [0] * buckets
    for v in values:
        counts[min(max(v, 0) // bucket, buckets - 1)] += 1
    height, base, left = 240, 200, 40
    col_w = (width - left - 10) / buckets
    top = max(counts) if counts and max(counts) > 0 else 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#444"/>',
    ]
    for i, c in enumerate(counts):
        h = round(170 * c / top)
        x = left + i * col_w
        lo = i * bucket // 7
        label = f"{lo}-{(i + 1) * bucket // 7}"
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{base - h}" width="{col_w - 4:.1f}" height="{h}" '
            f'fill="#4a9d6f"><title>{label} weeks: {c}</title></rect>'
            f'<text x="{x + col_w / 2:.1f}" y="{base + 16}" text-anchor="middle" '
            f'font-size="11">{label}</text>'
            f'<text x="{x + col_w / 2:.1f}" y="{base - h - 4}" text-anchor="middle" '
            f'font-size="11">{c}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{base + 34}" text-anchor="middle" font-size="12">'
        "weeks from fracture to first osteoporosis prescription</text></svg>"
    )
    return Markup("".join(parts))


def funnel(kpis: dict[str, Any]) -> Markup:
    pop = kpis["population"]
    ind = {i["id"]: i for i in kpis["indicators"]}
    n = pop["fragility_fracture_patients"]

    def cap(i: dict[str, Any]) -> str:
        pct = "n/a" if i["percentage"] is None else f"{i['percentage']}%"
        return f"{i['numerator']} of {i['denominator']} ({pct})"

    items = [
        ("Fragility fracture (aged 50+)", n, str(n)),
        (
            "  of which vertebral",
            pop["vertebral_fracture_patients"],
            cap(ind["vertebral_fracture_identified"]),
        ),
        (
            "DXA within 12 weeks",
            ind["dxa_within_12_weeks"]["numerator"],
            cap(ind["dxa_within_12_weeks"]),
        ),
        (
            "Medication within 16 weeks",
            ind["medication_started_within_16_weeks"]["numerator"],
            cap(ind["medication_started_within_16_weeks"]),
        ),
        (
            "On medication at 52 weeks",
            ind["medication_at_52_weeks"]["numerator"],
            cap(ind["medication_at_52_weeks"]),
        ),
    ]
    return bar_chart(items, n)


def _rank(row: dict[str, Any]) -> list[int]:
    """:func:`labels.priority_key` of a row without its index, as integers."""
    return [int(k) for k in labels.priority_key(row["gaps"], row["plan_safety_gaps"], 0)[:2]]


class Preview:
    """What report.html shows of the worklist, gathered piece by piece in worklist order (the
    Spark engine streams it): the first rows by priority, the first rows reported but not
    coded, and the row count. Holds at most 2 x PREVIEW_ROWS rows, whatever the worklist's
    length."""

    def __init__(self, column_names: list[str]) -> None:
        self.columns = [c for c in labels.SHOWN if c in column_names or c == "priority"]
        self.total_rows = 0
        self._best: list[tuple[tuple[bool, int, int], dict[str, Any]]] = []
        self.reported: list[dict[str, Any]] = []

    def add(self, piece: pa.Table) -> None:
        import pyarrow.compute as pc

        from vertebra.screen.distinct import per_combination

        offset = self.total_rows
        self.total_rows += piece.num_rows
        # The piece's first PREVIEW_ROWS rows by priority: labels.priority_key without the row
        # index, once per distinct pair of gap columns; a stable sort keeps worklist order
        # among equals, as the index would.
        rank = per_combination(
            piece.select(["gaps", "plan_safety_gaps"]),
            ["gaps", "plan_safety_gaps"],
            _rank,
            pa.list_(pa.int64(), 2),
        )
        order = pc.sort_indices(
            pa.table({"a": pc.list_element(rank, 0), "b": pc.list_element(rank, 1)}),
            sort_keys=[("a", "ascending"), ("b", "ascending")],
        )
        chosen = order.slice(0, PREVIEW_ROWS)
        if len(chosen):
            rows = piece.take(chosen).to_pylist()
            keys = [
                labels.priority_key(row["gaps"], row["plan_safety_gaps"], offset + i)
                for i, row in zip(chosen.to_pylist(), rows, strict=True)
            ]
            merged = self._best + list(zip(keys, rows, strict=True))
            self._best = sorted(merged, key=lambda kr: kr[0])[:PREVIEW_ROWS]
        if len(self.reported) < PREVIEW_ROWS:
            mask = pc.match_substring(
                pc.fill_null(piece["gaps"], ""), "vertebral_fracture_reported_not_coded"
            )
            wanted = PREVIEW_ROWS - len(self.reported)
            self.reported.extend(piece.filter(mask).slice(0, wanted).to_pylist())

    @property
    def preview(self) -> list[dict[str, Any]]:
        """The first rows by priority (see :func:`labels.priority_order`)."""
        return [{**row, "priority": n} for n, (_k, row) in enumerate(self._best, start=1)]


def render_report(worklist: pa.Table, kpis: dict[str, Any]) -> str:
    preview = Preview(worklist.column_names)
    preview.add(worklist)
    return render(preview, kpis)


def render(preview: Preview, kpis: dict[str, Any]) -> str:
    text = resources.files(__package__).joinpath("templates").joinpath("report.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(text.read_text(encoding="utf-8"))
    sites = kpis["population"]["index_fracture_sites"]
    return template.render(
        kpis=kpis,
        funnel=funnel(kpis),
        time_to_treatment=histogram(kpis["time_to_treatment_days"], 14, 8),
        sites=bar_chart(
            [(k, v, str(v)) for k, v in sorted(sites.items(), key=lambda kv: -kv[1])],
            max(sites.values(), default=0),
        ),
        reported=preview.reported,
        columns=preview.columns,
        preview=preview.preview,
        total_rows=preview.total_rows,
        labels=labels,
    )
