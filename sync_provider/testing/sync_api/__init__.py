"""Local stand-in for the Sync API (predictions generation) for tests and demos.

See :class:`~sync_provider.testing.sync_api.server.LocalSyncServer`.
"""

from __future__ import annotations

from sync_provider.testing.sync_api.faults import FaultDecision, FaultInjector, FaultRule
from sync_provider.testing.sync_api.server import (
    DEFAULT_API_KEYS,
    ROUTES,
    LocalSyncServer,
    main,
    run_server,
)
from sync_provider.testing.sync_api.state import PREFERENCES, PRODUCTS, ServerStats

__all__ = [
    "DEFAULT_API_KEYS",
    "PREFERENCES",
    "PRODUCTS",
    "ROUTES",
    "FaultDecision",
    "FaultInjector",
    "FaultRule",
    "LocalSyncServer",
    "ServerStats",
    "main",
    "run_server",
]
