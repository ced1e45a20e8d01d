"""Fault injection for the local Sync API server.

Rules are matched per route (``"METHOD /path/template"`` or ``"*"``) in the order they were added;
the first matching rule that fires decides what happens to a request. Whether a rule with
``rate < 1`` fires is drawn from a :class:`random.Random` seeded by the server's ``seed``, so a
sequence of requests sees the same faults on every run.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

DropMode = Literal["before", "after"]

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})


@dataclass
class FaultRule:
    """One fault: what to do to the requests of one route.

    :param route: ``"METHOD /path/template"`` or ``"*"`` for every route.
    :param status: answer with this HTTP status and an error body, without executing the request.
    :param rate: probability (0..1) that a matching request is hit.
    :param times: hit at most this many requests; ``None`` means no limit.
    :param latency_s: sleep this long before answering (or dropping).
    :param drop: ``"before"`` closes the connection without executing the request;
        ``"after"`` executes it and then closes the connection without answering.
    :param retry_after: seconds sent in a ``Retry-After`` header with a 429 or 503 ``status``.
    """

    route: str
    status: int | None = None
    rate: float = 1.0
    times: int | None = None
    latency_s: float = 0.0
    drop: DropMode | None = None
    retry_after: float | None = None
    hits: int = field(default=0, init=False)

    @property
    def exhausted(self) -> bool:
        """Whether the rule has hit ``times`` requests already."""
        return self.times is not None and self.hits >= self.times

    def matches(self, route_key: str) -> bool:
        """Whether the rule applies to ``route_key`` (``"METHOD /template"``).

        :param route_key: the request's method and route template.
        """
        return self.route in ("*", route_key)


@dataclass(frozen=True)
class FaultDecision:
    """What the server does to one request (the effect of the rule that fired)."""

    rule: FaultRule
    status: int | None
    latency_s: float
    drop: DropMode | None
    retry_after: float | None


class FaultInjector:
    """Per-route fault rules of a :class:`LocalSyncServer`; thread-safe.

    :param routes: the route keys (``"METHOD /template"``) the server knows, used to reject typos.
    :param seed: seed of the random draws for rules with ``rate < 1``.
    """

    def __init__(self, routes: Iterable[str], seed: int = 0) -> None:
        self._routes = frozenset(routes)
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[FaultRule] = []

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the current rules, in matching order."""
        with self._lock:
            return list(self._rules)

    def add(
        self,
        route: str = "*",
        *,
        status: int | None = None,
        rate: float = 1.0,
        times: int | None = None,
        latency_s: float = 0.0,
        drop: DropMode | None = None,
        retry_after: float | None = None,
    ) -> FaultRule:
        """Add a rule and return it (its ``hits`` counts the requests it affected).

        :param route: ``"METHOD /path/template"`` such as ``"GET /v1/autotuner/predictions/{id}/status"``,
            or ``"*"``.
        :param status: answer with this status (400..599) instead of executing the request.
        :param rate: probability that a matching request is hit.
        :param times: maximum number of requests hit.
        :param latency_s: delay before answering.
        :param drop: ``"before"`` or ``"after"`` executing the request, close without answering.
        :param retry_after: ``Retry-After`` seconds for a 429/503 ``status``.
        :raises ValueError: for an unknown route or inconsistent options.
        """
        route = self._normalise_route(route)
        if status is not None and drop is not None:
            raise ValueError("A fault rule either answers with a status or drops the connection, not both.")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"Fault status must be an HTTP error status (400..599), got {status}.")
        if drop not in (None, "before", "after"):
            raise ValueError(f"drop must be 'before', 'after' or None, got {drop!r}.")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}.")
        if times is not None and times < 0:
            raise ValueError(f"times must be >= 0, got {times}.")
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}.")
        if retry_after is not None and status not in (429, 503):
            raise ValueError("retry_after is only sent with status 429 or 503.")
        if status is None and drop is None and latency_s == 0:
            raise ValueError("The fault rule has no effect: give status, drop or latency_s.")
        rule = FaultRule(
            route=route,
            status=status,
            rate=rate,
            times=times,
            latency_s=latency_s,
            drop=drop,
            retry_after=retry_after,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Remove one rule (no error if it is not there).

        :param rule: a rule returned by :meth:`add`.
        """
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def decide(self, route_key: str) -> FaultDecision | None:
        """Return the fault for one request, counting the hit, or ``None``.

        :param route_key: the request's ``"METHOD /template"``.
        """
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(route_key):
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                return FaultDecision(
                    rule=rule,
                    status=rule.status,
                    latency_s=rule.latency_s,
                    drop=rule.drop,
                    retry_after=rule.retry_after,
                )
        return None

    def _normalise_route(self, route: str) -> str:
        route = " ".join(route.split())
        if route == "*":
            return route
        method, _, path = route.partition(" ")
        key = f"{method.upper()} {path}"
        if method.upper() not in _METHODS or key not in self._routes:
            known = ", ".join(sorted(self._routes))
            raise ValueError(f"Unknown route {route!r} for a fault rule. Use '*' or one of: {known}.")
        return key
