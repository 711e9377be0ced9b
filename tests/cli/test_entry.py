"""The console script's entry point (``vertebra.__main__:main``): the cyclic collector is paused
only while the CLI is imported, and is running again when a command runs (``vertebra serve``
runs for days in that process)."""

from __future__ import annotations

import gc

import pytest

import vertebra.cli
from vertebra.__main__ import main


def test_the_collector_runs_again_when_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(vertebra.cli, "main", lambda: seen.append(gc.isenabled()))
    try:
        main()
    finally:
        gc.unfreeze()  # main() froze this test process's objects
    assert seen == [True]
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(vertebra.cli, "main", lambda: seen.append(gc.isenabled()))
    gc.disable()
    try:
        main()
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen == [False]
