"""Webhook delivery: signed HTTP POSTs with retries, at most N requests in flight per host."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from lanthanide_notification.domain.model import DeliveryResult, Notice, Target
from lanthanide_notification.domain.retry import RetryPolicy, is_retryable_status
from lanthanide_notification.signing import sign

EVENT_ID_HEADER = "X-Lanthanide-Event-Id"
TIMESTAMP_HEADER = "X-Lanthanide-Timestamp"
SIGNATURE_HEADER = "X-Lanthanide-Signature"
EVENT_TYPE_HEADER = "X-Lanthanide-Event-Type"


class WebhookSender:
    """POSTs the event envelope JSON to a URL, signed, retrying timeouts, connection errors and 5xx."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        secret: str,
        policy: RetryPolicy,
        per_host_limit: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.secret = secret
        self.policy = policy
        self.per_host_limit = per_host_limit
        self._sleep = sleep
        self._rand = rand
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    def _slot(self, url: str) -> asyncio.Semaphore:
        # One slow receiver may hold at most per_host_limit requests; other hosts proceed.
        host = urlsplit(url).netloc.lower()
        if host not in self._host_slots:
            self._host_slots[host] = asyncio.Semaphore(self.per_host_limit)
        return self._host_slots[host]

    async def send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """Deliver `body` to the target URL; never raises for delivery failures."""
        payload = body.encode("utf-8")
        last_status: int | None = None
        last_error = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                EVENT_ID_HEADER: str(notice.event_id),
                EVENT_TYPE_HEADER: notice.event_type,
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.secret, timestamp, payload),
            }
            retryable = True
            async with self._slot(target.address):
                try:
                    response = await self.client.post(target.address, content=payload, headers=headers)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    last_status, last_error = None, f"{type(exc).__name__}: {exc}"[:500]
                else:
                    last_status = response.status_code
                    if response.is_success:
                        return DeliveryResult("delivered", attempt, response.status_code)
                    last_error = f"HTTP {response.status_code}"
                    retryable = is_retryable_status(response.status_code)
            if not retryable:
                return DeliveryResult("failed", attempt, last_status, last_error)
            if attempt < self.policy.attempts:
                await self._sleep(self.policy.delay(attempt, self._rand()))
        return DeliveryResult("failed", self.policy.attempts, last_status, last_error)
