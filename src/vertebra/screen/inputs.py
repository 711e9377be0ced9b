"""Find the NDJSON files of a FHIR bulk data export: a manifest or a folder of ``Type.*.ndjson``."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
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
    # Files of a type screening reads that could not be read (corrupt or truncated gzip): left
    # out of the run, counted and reported; ``vertebra screen --strict`` then exits non-zero.
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    # Files read through a cleaned copy (a UTF-8 byte order mark removed), so that both engines
    # read the first line the same way.
    cleaned: list[tuple[str, str]] = field(default_factory=list)  # (file, what was done)


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
        rtype = item.get("type") if isinstance(item.get("type"), str) else None
        local, problem = _manifest_path(item["url"], export.root)
        if local is None:
            export.skipped.append((item["url"][:200], problem))
            continue
        _add(export, rtype, local)
    return export


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def _manifest_path(url_text: str, root: Path) -> tuple[Path | None, str]:
    """The local file a manifest URL names, confined to the export folder ``root``.

    A relative path is taken from the manifest's folder; a remote URL, or an absolute path that
    does not exist here (another machine's), is looked up by its file name next to the manifest.
    A path that leaves the folder (``../``, ``file:///etc/passwd``, a symlink out) is refused.
    """
    url = urlparse(url_text)
    name = Path(unquote(url.path)).name
    if url.scheme in ("", "file"):
        raw = Path(unquote(url.path))
        candidate = raw if raw.is_absolute() else root / raw
        if _inside(candidate, root):
            return candidate, ""
        if candidate.exists() or not raw.is_absolute():
            return None, "outside the export folder (not read)"
    if not name:
        return None, "manifest url names no file"
    local = root / name
    if local.exists() and not _inside(local, root):
        return None, "outside the export folder (not read)"
    return local, ""


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


_BOM = b"\xef\xbb\xbf"


def _check_gzip(path: Path) -> str | None:
    """None if ``path`` is a complete gzip stream, else the problem (the whole file is read:
    only that finds a truncated one)."""
    with path.open("rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return "not a gzip file"
    try:
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 22):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"corrupt or truncated gzip ({exc})"
    return None


def _starts_with_bom(path: Path) -> bool:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return bool(fh.read(3) == _BOM)


def prepare(export: ExportFiles, workdir: Path, threads: int = 2) -> ExportFiles:
    """Check the files before an engine reads them: a gzip file that is not one, or is cut
    short, is left out and listed in ``unreadable``; a file that starts with a UTF-8 byte order
    mark is read through a copy without it (``cleaned``), written to ``workdir``.

    Both engines then read exactly the same bytes, and one bad file does not stop the run.
    """
    paths = [p for files in export.files.values() for p in files]
    gz = [p for p in paths if p.name.endswith(".gz")]
    with ThreadPoolExecutor(max(1, threads)) as pool:  # zlib releases the GIL
        problems = dict(zip(gz, pool.map(_check_gzip, gz), strict=True))
    files: dict[str, list[Path]] = {}
    for rtype, rfiles in export.files.items():
        for p in rfiles:
            problem = problems.get(p)
            if problem is not None:
                export.unreadable.append((p.name, problem))
                continue
            if _starts_with_bom(p):
                workdir.mkdir(parents=True, exist_ok=True)
                copy = workdir / f"{len(export.cleaned):04d}-{p.name.removesuffix('.gz')}"
                opener = gzip.open if p.name.endswith(".gz") else open
                with opener(p, "rb") as src, copy.open("wb") as dst:
                    src.read(3)
                    shutil.copyfileobj(src, dst, 1 << 22)
                export.cleaned.append((p.name, "UTF-8 byte order mark removed"))
                p = copy
            files.setdefault(rtype, []).append(p)
    export.files = files
    return export
