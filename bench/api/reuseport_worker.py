"""One server process on its own ``SO_REUSEPORT`` socket (``run.py --server reuseport``).

    python bench/api/reuseport_worker.py PORT

An experiment for ``vertebra serve --workers N``: uvicorn's workers share one listening socket,
and a burst of keep-alive connections is accepted by whichever worker wakes first, so one
worker can end up with every connection of a client. With one ``SO_REUSEPORT`` socket per
process the kernel spreads connections over the processes by hash instead. The app, settings
(environment) and uvicorn options are those of ``vertebra serve``.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from vertebra.cli.serve import log_config
from vertebra.http import create_app
from vertebra.settings import Settings


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    settings = Settings.from_env()
    config = uvicorn.Config(
        create_app(settings),
        log_config=log_config(settings.log_level),
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
