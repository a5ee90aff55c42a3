"""Run a WSGI app on a real socket in a background thread (demo, tests, benchmarks)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, url_host: str | None = None) -> RunningServer:
    """Serve ``app`` threaded on ``host:port`` (0 = any free port) and return once it accepts connections.

    ``url_host`` is the host name to put in the returned URL (e.g. "localhost" while binding 127.0.0.1), which
    lets tests put two servers on different sites without DNS.
    """
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()
    return RunningServer(url=f"http://{url_host or host}:{server.server_port}", server=server, thread=thread)
