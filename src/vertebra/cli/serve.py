"""``vertebra serve``: the web app, JSON API and CDS Hooks services (uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError

# The standard-library modules for serving are imported inside the functions below, so that
# registering this command costs `vertebra plan` nothing at start-up.


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus the ``vertebra`` loggers on the same handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["vertebra"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes", min=1, max=64)] = 1,
    config: Annotated[
        str | None,
        typer.Option(help="Settings file (KEY=VALUE, as VERTEBRA_CONFIG); see docs/api.md"),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log each request line")] = True,
) -> None:
    """Serve the web app, the JSON API (/api) and the CDS Hooks services (/cds-services)."""
    import logging.config

    import uvicorn

    from vertebra.settings import Settings, SettingsError

    if config is not None:
        os.environ["VERTEBRA_CONFIG"] = config
    try:
        settings = Settings.from_env()
        settings.check_serving()
    except SettingsError as exc:
        raise InputError.one("settings", str(exc)) from None
    from vertebra.store import require_driver

    require_driver(settings.database_url)
    logging_config = log_config(settings.log_level)
    logging.config.dictConfig(logging_config)  # so start-up warnings use the same handler
    from vertebra.http import create_app
    from vertebra.http.limits import server_options

    # One process: the app object. Several: uvicorn's own supervisor (--workers) starts each
    # worker by spawning a fresh interpreter that builds its own app from the same environment
    # (the factory) and imports the limited HTTP protocol by name; it restarts a worker that
    # dies and logs "Child process [pid] died". bench/api/compare.py measured it against the
    # least-connections balancer this command used to run (docs/api.md): lower p99 and less CPU.
    factory = workers > 1
    uvicorn.run(
        "vertebra.http:create_app" if factory else create_app(settings),
        factory=factory,
        host=host,
        port=port,
        workers=workers if factory else None,
        log_config=logging_config,
        access_log=access_log,
        server_header=False,
        **server_options(settings, by_name=factory),
    )
