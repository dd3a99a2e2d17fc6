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


#: The default total deadline of one delivery attempt (resolve, connect, send, read the answer).
ATTEMPT_DEADLINE_SECONDS = 10.0
#: What a claim's lease adds to the longest round of attempts: the store reads before the round
#: and the writes and the outcome's publication after it, a deadline's overshoot, and the skew
#: between the clocks of the instances comparing the lease with their own now.
LEASE_MARGIN_SECONDS = 15.0


def round_bound_seconds(policy: RetryPolicy, attempt_deadline: float) -> float:
    """The longest one round of quick attempts can take: every attempt runs to its deadline and
    each wait between two attempts is its longest (the jitter only shortens them)."""
    waits = sum(
        max(policy.delay(failed, 0.0), policy.delay(failed, 1.0)) for failed in range(1, policy.attempts)
    )
    return policy.attempts * attempt_deadline + waits


def claim_lease_seconds(
    policy: RetryPolicy, attempt_deadline: float, margin: float = LEASE_MARGIN_SECONDS
) -> float:
    """How long the delivery worker's claim on a due delivery lasts: the round bound plus a margin.

    A claim holds one delivery for one round (`deliver_once`: `policy.attempts` quick attempts
    with the backoffs between them); the persisted retries of the backoff schedule are not
    within it, a failed round gives the claim up by rescheduling. The lease is how long the
    delivery of a holder that died (kill -9) waits before another instance takes it, so it is
    just longer than the longest a live holder takes, not a fixed five minutes: every attempt to
    its deadline, the longest waits, and the margin (LEASE_MARGIN_SECONDS) for what the holder
    does around the round. A holder that takes longer anyway renews its claim (the worker).
    """
    return round_bound_seconds(policy, attempt_deadline) + margin


def is_retryable_status(status: int) -> bool:
    """5xx, 408 and 429 are worth retrying; other 4xx will fail the same way again."""
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True, slots=True)
class BackoffSchedule:
    """The persisted retries of a failed delivery: the wait before each, then failed (policy data).

    Unlike `RetryPolicy` (quick attempts within one delivery), these waits are stored with the
    delivery, so a retry due in four hours happens even if the service restarted meanwhile.
    """

    delays: tuple[float, ...] = ()
    version: str = "none"
    source: str = ""

    def delay_before(self, retry: int) -> float | None:
        """Seconds to wait before persisted retry number `retry` (1-based); None: give up."""
        if 1 <= retry <= len(self.delays):
            return self.delays[retry - 1]
        return None


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float | int) -> float:
    """'30s', '2m', '1h', '1d' or a number of seconds -> seconds; raises ValueError otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        unit = _UNITS.get(value[-1:]) if value else None
        try:
            seconds = float(value[:-1]) * unit if unit else float(value)
        except ValueError:
            raise ValueError(f"{text!r} is not a duration (e.g. 30s, 2m, 1h, 1d)") from None
    if seconds < 0:
        raise ValueError(f"{text!r} is negative; a wait is 0 or more")
    return seconds
