"""Local Sync API server: ``python -m sync_provider.testing.sync_api_server --port 8000``.

A thin re-export of :mod:`sync_provider.testing.sync_api`; see
:class:`~sync_provider.testing.sync_api.server.LocalSyncServer`.
"""

from __future__ import annotations

from sync_provider.testing.sync_api import (
    DEFAULT_API_KEYS,
    PREFERENCES,
    PRODUCTS,
    ROUTES,
    FaultDecision,
    FaultInjector,
    FaultRule,
    LocalSyncServer,
    ServerStats,
    main,
    run_server,
)

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

if __name__ == "__main__":
    raise SystemExit(main())
