"""A token bucket per caller, kept in this process: per API key or token subject for requests
(``CRM_RATE_LIMIT_*``), per client address for failed authentications (``CRM_AUTH_FAILURE*``).

Each caller may burst ``burst`` requests, refilled at ``per_minute``. With several worker processes each keeps its own buckets, so
the effective limit is per process; put a shared limiter in front for exact global limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_BUCKETS = 10_000


class RateLimiter:
    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last refill)

    def acquire(self, caller: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until a token is available."""
        return self._take(caller, 1.0)

    def wait(self, caller: str) -> float:
        """Like :meth:`acquire` without taking the token: 0.0 while ``caller`` has one."""
        return self._take(caller, 0.0)

    def _take(self, caller: str, cost: float) -> float:
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self.buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self.buckets[caller] = (tokens - cost, now)
            self._prune(now)
            return 0.0
        self.buckets[caller] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget callers whose bucket has refilled completely (they are indistinguishable
        from new callers), so that memory stays bounded."""
        if len(self.buckets) <= MAX_BUCKETS:
            return
        full = (self.burst / self.rate) if self.rate else 0.0
        self.buckets = {
            caller: (tokens, last)
            for caller, (tokens, last) in self.buckets.items()
            if now - last < full
        }
