"""``python -m embedded_app sync|aging`` — see :mod:`embedded_app.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
