"""A slim install (no extras): the feature that needs an extra exits with code 2 and one line
naming the extra. The missing package is simulated with ``sys.modules[name] = None``, which
makes it unimportable exactly as when it is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vertebra.errors import MissingExtra, require_extra

RUN = (
    "import sys; sys.modules[{module!r}] = None; sys.argv = ['vertebra', *{args!r}]; "
    "from vertebra.cli import main; main()"
)


def _vertebra_without(module: str, args: list[str], env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", RUN.format(module=module, args=args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    return out.stderr


def test_require_extra_names_the_extra() -> None:
    require_extra("json", "spark", "anything")  # importable: no error
    with pytest.raises(MissingExtra) as info:
        require_extra("vertebra_no_such_package", "spark", "the Spark engine")
    expected = "the Spark engine needs the 'spark' extra: pip install 'vertebra[spark]'"
    assert str(info.value) == expected


def test_screen_with_spark_needs_the_spark_extra(tmp_path: Path) -> None:
    stderr = _vertebra_without("pyspark", ["screen", str(tmp_path), "--engine", "spark"])
    assert stderr.splitlines() == [
        "error: the Spark engine (--engine spark) needs the 'spark' extra: "
        "pip install 'vertebra[spark]'"
    ]


def test_serve_with_postgresql_needs_the_postgres_extra() -> None:
    url = "postgresql+psycopg://vertebra@127.0.0.1:1/vertebra"
    stderr = _vertebra_without("psycopg", ["serve"], {"VERTEBRA_DATABASE_URL": url})
    assert stderr.splitlines() == [
        "error: a PostgreSQL database (VERTEBRA_DATABASE_URL) needs the 'postgres' extra: "
        "pip install 'vertebra[postgres]'"
    ]
