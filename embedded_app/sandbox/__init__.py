"""A local stand-in for the Procore API (OAuth + REST) seeded with realistic construction receivables.

Public entry points:

- :func:`embedded_app.sandbox.seed.build_seed` — the deterministic built-in dataset;
- :func:`embedded_app.sandbox.dataset.load_dataset` / :func:`~embedded_app.sandbox.dataset.validate_dataset`
  — the dataset file format (``docs/sandbox-dataset.md``);
- :func:`embedded_app.sandbox.app.create_sandbox_app` — the Flask app serving it;
- ``python -m embedded_app.sandbox`` — the command line.
"""

from __future__ import annotations

from .app import SandboxState, create_sandbox_app
from .dataset import DATASET_KEYS, DatasetError, load_dataset, validate_dataset
from .seed import SEED_ANCHOR, build_seed

__all__ = [
    "DATASET_KEYS",
    "SEED_ANCHOR",
    "DatasetError",
    "SandboxState",
    "build_seed",
    "create_sandbox_app",
    "load_dataset",
    "validate_dataset",
]
