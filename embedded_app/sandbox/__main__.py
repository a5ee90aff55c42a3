"""``python -m embedded_app.sandbox``: serve the Procore stand-in, or write the built-in seed to a file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from .app import create_sandbox_app
from .dataset import DatasetError, load_dataset
from .seed import build_seed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m embedded_app.sandbox",
        description="Local stand-in for the Procore API (OAuth + REST) with seeded construction receivables.",
    )
    parser.add_argument("--data", metavar="FILE", help="dataset JSON file (docs/sandbox-dataset.md); "
                        "default: the built-in seed")
    parser.add_argument("--port", type=int, default=5101, help="port to listen on (default 5101; 0 = any)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--hourly-limit", type=int, default=3600, help="requests per hour per app (3600)")
    parser.add_argument("--spike-limit", type=int, default=100, help="requests per spike window per app (100)")
    parser.add_argument("--spike-window", type=float, default=10.0, help="spike window in seconds (10)")
    parser.add_argument("--token-ttl", type=int, default=5400, help="access token lifetime in seconds (5400)")
    parser.add_argument("--write-seed", metavar="FILE", help="write the built-in seed dataset to FILE and exit")
    parser.add_argument("--scale", type=int, default=1, help="size multiplier of the built-in seed (1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.scale < 1:
        print("error: --scale must be at least 1", file=sys.stderr)
        return 2
    if args.write_seed:
        seed = build_seed(scale=args.scale)
        with open(args.write_seed, "w", encoding="utf-8") as handle:
            json.dump(seed, handle, indent=1)
            handle.write("\n")
        counts = ", ".join(f"{len(v)} {k}" for k, v in seed.items())
        print(f"wrote {args.write_seed}: {counts}")
        return 0
    try:
        dataset = load_dataset(args.data) if args.data else build_seed(scale=args.scale)
        app = create_sandbox_app(dataset, hourly_limit=args.hourly_limit, spike_limit=args.spike_limit,
                                 spike_window=args.spike_window, token_ttl=args.token_ttl)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from embedded_app.devserver import serve

    running = serve(app, args.host, args.port)
    print(f"Procore stand-in listening on {running.url}  (login and API base URL)", flush=True)
    if not args.data:
        print("  OAuth clients: demo-app-client / demo-app-secret (user), "
              "demo-service-account / demo-service-secret (service account)", flush=True)
    try:
        while running.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
