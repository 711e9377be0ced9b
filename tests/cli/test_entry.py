"""The console script's entry point (``vertebra.__main__:main``): the cyclic collector is paused
only while the CLI is imported, and is running again when a command runs (``vertebra serve``
runs for days in that process)."""

from __future__ import annotations

import gc
import os

import pytest

import vertebra.cli
from vertebra.__main__ import main


def test_the_collector_runs_again_when_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")  # so that it is restored after the test
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    seen: list[bool] = []
    monkeypatch.setattr(vertebra.cli, "main", lambda: seen.append(gc.isenabled()))
    try:
        main()
    finally:
        gc.unfreeze()  # main() froze this test process's objects
    assert seen == [True]
    assert gc.isenabled()
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"  # no plugin scan at start


def test_pydantic_plugins_stay_on_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")
    monkeypatch.setattr(vertebra.cli, "main", lambda: None)
    try:
        main()
    finally:
        gc.unfreeze()
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == ""


def test_a_collector_switched_off_before_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    seen: list[bool] = []
    monkeypatch.setattr(vertebra.cli, "main", lambda: seen.append(gc.isenabled()))
    gc.disable()
    try:
        main()
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen == [False]
