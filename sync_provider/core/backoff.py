"""Polling delays: exponential backoff with jitter, bounded by a deadline.

One policy object serves blocking waiters (``time.sleep``) and Airflow triggers
(``asyncio.sleep``), so both poll the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays ``initial * factor**n``, capped at ``maximum``, each multiplied by a random factor
    in ``[1 - jitter, 1 + jitter]``.

    :param initial: first delay in seconds.
    :param maximum: largest delay in seconds.
    :param factor: growth per attempt.
    :param jitter: relative jitter (0 disables it).
    """

    initial: float = 2.0
    maximum: float = 30.0
    factor: float = 1.5
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError(
                "Backoff needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1; "
                f"got initial={self.initial}, maximum={self.maximum}, factor={self.factor}, "
                f"jitter={self.jitter}."
            )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield delays forever."""
        rand = rng or random.Random()
        delay = self.initial
        while True:
            yield delay * (1 + rand.uniform(-self.jitter, self.jitter)) if self.jitter else delay
            delay = min(delay * self.factor, self.maximum)


class Deadline:
    """A point in monotonic time after which waiting stops.

    :param timeout_s: seconds from now; ``None`` means no deadline.
    """

    def __init__(self, timeout_s: float | None) -> None:
        self._now = time.monotonic
        self.timeout_s = timeout_s
        self._end = None if timeout_s is None else self._now() + timeout_s

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` without a deadline."""
        return None if self._end is None else max(0.0, self._end - self._now())

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def clip(self, delay: float) -> float:
        """Return ``delay`` shortened so that a sleep ends at the deadline at the latest."""
        remaining = self.remaining()
        return delay if remaining is None else min(delay, remaining)
