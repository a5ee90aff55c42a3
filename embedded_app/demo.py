"""``python -m embedded_app.demo``: the whole product on one machine, as a bookkeeper would use it.

Starts three servers on different origins:
- the local Procore stand-in (OAuth + REST, seeded with construction receivables) on 127.0.0.1:5101,
- the Collections app on localhost:5100 (pointed at the stand-in),
- a host page imitating Procore's shell on 127.0.0.1:5102 that frames the app as the Apps-menu tab and as a
  400 px side panel.
Then prints the URL to open. Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from . import config as config_module
from .devserver import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_app.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset file for the stand-in (default: the built-in seed)")
    parser.add_argument("--database", default=os.path.join("instance", "demo.sqlite"))
    parser.add_argument("--no-browser", action="store_true", help="do not try to open a browser")
    args = parser.parse_args(argv)

    from .sandbox.app import create_sandbox_app
    from .sandbox.dataset import load_dataset
    from .sandbox.seed import build_seed

    dataset = load_dataset(args.data) if args.data else build_seed()
    standin = serve(create_sandbox_app(dataset), "127.0.0.1", 5101)
    os.environ.setdefault("DATABASE", args.database)
    os.environ.setdefault("PROCORE_API_URL", standin.url)
    os.environ.setdefault("PROCORE_LOGIN_URL", standin.url)
    os.environ.setdefault("SMTP_HOST", "")

    from . import create_app
    from .hostpage import create_host_app, records_from_dataset

    app = create_app()
    app_server = serve(app, "127.0.0.1", 5100, url_host="localhost")
    host = serve(create_host_app(config_module.DEMO_APP_URL, records_from_dataset(dataset)), "127.0.0.1", 5102)
    url = host.url + "/"
    print("Collections demo is running:")
    print(f"  Procore stand-in   {standin.url}")
    print(f"  Collections app    {app_server.url}")
    print(f"  Procore-like shell {url}   <- open this")
    print("Sign in through 'Connect to Procore' (the stand-in's consent page). Ctrl-C stops everything.")
    if not args.no_browser and sys.stdout.isatty():
        import webbrowser

        webbrowser.open(url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for server in (host, app_server, standin):
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
