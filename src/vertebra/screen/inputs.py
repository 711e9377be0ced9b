"""Find the NDJSON files of a FHIR bulk data export: a manifest or a folder of ``Type.*.ndjson``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from vertebra.screen.schema import RESOURCES

_NAME = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(?:[._-][^/]*)?\.ndjson(?:\.gz)?$")


class ExportError(ValueError):
    """The input is not a readable bulk export (names the path and the problem)."""


@dataclass
class ExportFiles:
    """Files per resource type that screening reads, plus what it skipped and why."""

    root: Path
    files: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    transaction_time: str | None = None


def _add(export: ExportFiles, rtype: str | None, path: Path) -> None:
    name = path.name
    if rtype is None:
        export.skipped.append((name, "not named Type.*.ndjson"))
    elif rtype not in RESOURCES:
        export.skipped.append((name, f"resource type {rtype} is not used by screening"))
    elif not path.is_file():
        export.skipped.append((name, "file not found"))
    else:
        export.files.setdefault(rtype, []).append(path)


def _from_manifest(manifest: Path) -> ExportFiles:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{manifest}: not a readable bulk data manifest ({exc})") from exc
    outputs = data.get("output") if isinstance(data, dict) else None
    if not isinstance(outputs, list):
        raise ExportError(f"{manifest}: manifest has no 'output' list")
    export = ExportFiles(root=manifest.parent, transaction_time=data.get("transactionTime"))
    for item in outputs:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            export.skipped.append((str(item)[:80], "manifest entry without a url"))
            continue
        url = urlparse(item["url"])
        local = Path(unquote(url.path)) if url.scheme in ("", "file") else None
        if local is None or not local.is_file():
            # Remote URL or absolute path from another machine: look next to the manifest.
            local = manifest.parent / Path(unquote(url.path)).name
        rtype = item.get("type") if isinstance(item.get("type"), str) else None
        _add(export, rtype, local)
    return export


def discover(path: Path) -> ExportFiles:
    """Resolve ``path`` (a folder, or a manifest JSON file) to the files to read."""
    if not path.exists():
        raise ExportError(f"{path}: no such file or directory")
    if path.is_file():
        return _from_manifest(path)
    manifests = [p for p in sorted(path.iterdir()) if p.name.endswith(".json")]
    for candidate in manifests:
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("output"), list):
            return _from_manifest(candidate)
    export = ExportFiles(root=path)
    for p in sorted(path.iterdir()):
        if p.is_dir() or p.name.endswith((".json", ".md", ".txt")) or p.name.startswith("."):
            continue
        m = _NAME.match(p.name)
        if m is None and p.name == "log.ndjson":
            export.skipped.append((p.name, "export log"))
            continue
        _add(export, m.group("type") if m else None, p)
    if not export.files:
        raise ExportError(f"{path}: no FHIR NDJSON files (expected names like Patient.000.ndjson)")
    for rtype in export.files:
        export.files[rtype].sort()
    return export
