"""``vertebra serve``: the web app, JSON API and CDS Hooks services (uvicorn)."""

from __future__ import annotations

import copy
import logging.config
import os
from typing import Annotated, Any

import typer

from vertebra.cli._app import InvalidInput, app


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus the ``vertebra`` loggers on the same handler."""
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
    import uvicorn

    from vertebra.settings import Settings, SettingsError

    if config is not None:
        os.environ["VERTEBRA_CONFIG"] = config
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise InvalidInput(f"invalid settings: {exc}") from None
    logging_config = log_config(settings.log_level)
    logging.config.dictConfig(logging_config)  # so start-up warnings use the same handler
    if workers == 1:
        from vertebra.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=logging_config,
                    access_log=access_log, server_header=False)  # fmt: skip
    else:  # each worker process builds its own app from the same environment
        uvicorn.run("vertebra.api:create_app", factory=True, host=host, port=port,
                    workers=workers, log_config=logging_config, access_log=access_log,
                    server_header=False)  # fmt: skip
