"""``vertebra serve``: the web app, JSON API and CDS Hooks services (uvicorn)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError

if TYPE_CHECKING:
    import socket

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
    from vertebra.http.limits import server_options

    if workers == 1:
        from vertebra.http import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_config=logging_config,
            access_log=access_log,
            server_header=False,
            **server_options(settings),
        )
    elif os.name == "posix":
        _serve_balanced(host, port, workers, logging_config, access_log)
    else:  # each worker process builds its own app from the same environment
        uvicorn.run(
            "vertebra.http:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=logging_config,
            access_log=access_log,
            server_header=False,
            **server_options(settings),
        )


def _listening_socket(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(
    sock: socket.socket,
    counts: Any,
    index: int,
    logging_config: dict[str, Any],
    access_log: bool,
) -> None:
    """One worker process: its own app (same environment), connections from the shared socket
    while it is the least loaded (:mod:`vertebra.http.balance`)."""
    import uvicorn

    from vertebra.http import create_app
    from vertebra.http.balance import BalancedServer
    from vertebra.http.limits import server_options
    from vertebra.settings import Settings

    settings = Settings.from_env()
    config = uvicorn.Config(
        create_app(settings),
        log_config=logging_config,
        access_log=access_log,
        server_header=False,
        **server_options(settings),
    )
    BalancedServer(config, sock, counts, index).run()


def _serve_balanced(
    host: str, port: int, workers: int, logging_config: dict[str, Any], access_log: bool
) -> None:
    """``--workers N`` on POSIX: one listening socket shared by the worker processes, each
    accepting only while it has no more open connections than the others (least-connections),
    so that keep-alive connections are spread evenly (see :mod:`vertebra.http.balance`).

    The parent supervises: a worker that exits (killed, crashed) is logged and restarted on
    the same socket; SIGTERM/SIGINT stop them all."""
    import logging
    import multiprocessing
    import signal
    import time
    from multiprocessing.connection import wait

    sock = _listening_socket(host, port)  # kept open here: a restarted worker needs it
    ctx = multiprocessing.get_context("spawn")
    counts = ctx.RawArray("l", workers)  # open connections per worker, in shared memory
    log = logging.getLogger("vertebra.api")

    def start(index: int) -> Any:
        counts[index] = 0
        proc = ctx.Process(
            target=_worker, args=(sock, counts, index, logging_config, access_log), daemon=False
        )
        proc.start()
        return proc

    procs = [start(i) for i in range(workers)]
    started = [time.monotonic()] * workers
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving with %d workers (pids %s)", workers, ", ".join(str(p.pid) for p in procs))
    while not stopping:
        wait([p.sentinel for p in procs], timeout=1.0)
        for index, proc in enumerate(procs):
            if stopping or proc.is_alive():
                continue
            code = proc.exitcode
            # a worker that dies at once (a bad setting …) is restarted at most once a second
            if time.monotonic() - started[index] < 1.0:
                time.sleep(1.0)
            if stopping:
                break
            procs[index] = start(index)
            started[index] = time.monotonic()
            log.error(
                "worker %d (pid %s) exited with code %s; restarted as pid %s",
                index,
                proc.pid,
                code,
                procs[index].pid,
            )
    for proc in procs:
        proc.join()
    sock.close()
