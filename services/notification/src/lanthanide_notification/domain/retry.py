"""When to try a delivery again, and how long to wait first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    The wait before attempt n+1 is base * 2**(n-1), capped, then scaled by a random factor in
    [1 - jitter, 1] so that many deliveries failing together do not retry in lock-step.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5

    def delay(self, failed_attempt: int, rand: float) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based); `rand` in [0, 1)."""
        raw = min(self.max_delay, self.base_delay * (2 ** (failed_attempt - 1)))
        return float(raw * (1 - self.jitter * rand))


def is_retryable_status(status: int) -> bool:
    """5xx, 408 and 429 are worth retrying; other 4xx will fail the same way again."""
    return status >= 500 or status in (408, 429)
