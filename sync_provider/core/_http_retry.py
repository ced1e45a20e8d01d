"""The urllib3 retry policy both HTTP clients build on: one that reads any ``Retry-After`` it can.

RFC 9110 allows ``Retry-After`` as whole seconds or an HTTP date, and urllib3 raises
``InvalidHeader`` for anything else — which ends the call as a transport error although the
server only asked to be called again later. Servers and proxies do send decimal seconds
(``1.5``); :class:`LenientRetry` waits those as given, and treats any other unreadable value as
no header (the backoff applies), with a warning. Used by
:class:`~sync_provider.core.client.SyncClient` and
:class:`~sync_provider.core.databricks.client.DatabricksRestClient`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

_DECIMAL_SECONDS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*$")


class LenientRetry(Retry):
    """urllib3's :class:`~urllib3.util.retry.Retry`, reading decimal ``Retry-After`` seconds and
    ignoring unreadable values instead of failing the call.

    Subclasses name the server in the warning (:attr:`service`) and may log through their own
    module's logger (:attr:`logger`). urllib3 copies a policy with ``type(self)(**params)`` on every
    try, so both are class attributes.
    """

    #: The server, for the warning about an unreadable header (e.g. ``"the Sync API"``).
    service: ClassVar[str] = "the server"
    #: The logger of that warning.
    logger: ClassVar[logging.Logger] = log

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds to wait for a ``Retry-After`` value: whole or decimal seconds, or an HTTP date.

        A decimal value (``1.5``) is waited as given (capped at ``retry_after_max`` like the others);
        any other value urllib3 cannot read raises ``InvalidHeader``, which :meth:`get_retry_after`
        turns into "no header".
        """
        match = _DECIMAL_SECONDS_RE.match(retry_after)
        if match:
            seconds = float(match.group(1))
            cap = getattr(self, "retry_after_max", None)  # urllib3 >= 2.5
            return min(seconds, float(cap)) if cap is not None else seconds
        return float(super().parse_retry_after(retry_after))

    def get_retry_after(self, response: Any) -> float | None:
        """``Retry-After`` in seconds, or ``None`` when absent or unreadable (then the backoff applies)."""
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            self.logger.warning(
                "Ignoring %s's unreadable Retry-After header %r; using the backoff instead",
                self.service,
                response.headers.get("Retry-After"),
            )
            return None
        return None if seconds is None else float(seconds)


__all__ = ["LenientRetry"]
