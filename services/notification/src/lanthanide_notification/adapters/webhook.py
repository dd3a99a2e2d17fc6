"""Webhook delivery: signed HTTP POSTs with retries, guarded against abuse of the sender.

- Signed the Standard Webhooks way (plus the earlier X-Lanthanide-* headers), with a key of the
  endpoint's own (`signing.endpoint_key`), so no receiver can forge notices to another.
- Unregistered targets (an applicant's own URL) pass the address check on every resolved
  address; the request then goes to the checked address (host header and TLS name kept), so a
  name that re-resolves elsewhere (DNS rebinding) cannot steer it.
- At most `max_response_bytes` of a response are read, raw (no decompression: a gzip bomb is
  never inflated); every attempt has a total deadline; at most N requests in flight per host,
  so one slow receiver holds only its own slots.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from lanthanide_notification.domain.addresses import AddressPolicy, AddressRefused
from lanthanide_notification.domain.model import DeliveryResult, Notice, Target, delivery_host
from lanthanide_notification.domain.retry import RetryPolicy, is_retryable_status
from lanthanide_notification.signing import endpoint_key, endpoint_secret, sign, standard_headers

EVENT_ID_HEADER = "X-Lanthanide-Event-Id"
TIMESTAMP_HEADER = "X-Lanthanide-Timestamp"
SIGNATURE_HEADER = "X-Lanthanide-Signature"
EVENT_TYPE_HEADER = "X-Lanthanide-Event-Type"

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), in resolver order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class WebhookSender:
    """POSTs the event envelope JSON to a URL, signed, retrying timeouts, connection errors and 5xx."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        secret: str,
        policy: RetryPolicy,
        per_host_limit: int = 4,
        addresses: AddressPolicy | None = None,
        attempt_deadline_seconds: float = 10.0,
        max_response_bytes: int = 4096,
        resolver: Resolver = resolve,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.master = secret
        self.policy = policy
        self.per_host_limit = per_host_limit
        self.addresses = addresses or AddressPolicy()
        self.attempt_deadline = attempt_deadline_seconds
        self.max_response_bytes = max_response_bytes
        self._resolve = resolver
        self._sleep = sleep
        self._rand = rand
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    def _slot(self, url: str) -> asyncio.Semaphore:
        # One slow receiver may hold at most per_host_limit requests; other hosts proceed.
        host = delivery_host("webhook", url)
        if host not in self._host_slots:
            self._host_slots[host] = asyncio.Semaphore(self.per_host_limit)
        return self._host_slots[host]

    def secret_for(self, url: str) -> str:
        """The endpoint's own secret (``whsec_...``), as its receiver must be given it."""
        return endpoint_secret(self.master, url)

    async def _request_target(self, target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
        """The URL to connect to, extra headers and request extensions for one attempt.

        Unregistered targets: resolve, check every address, connect to the first checked one.
        """
        parts = urlsplit(target.address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddressRefused("only http and https URLs with a host are delivered to")
        if target.registered:
            return target.address, {}, {}
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            resolved = await self._resolve(parts.hostname, port)
        except OSError:
            raise AddressRefused("the host name did not resolve") from None
        address = self.addresses.check_all(resolved)[0]
        netloc = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return pinned, {"Host": host_header}, extensions

    async def _attempt(
        self, url: str, payload: bytes, headers: dict[str, str], extensions: dict[str, str]
    ) -> int:
        """One POST (the caller holds the deadline); reads at most max_response_bytes of the raw body."""
        request = self.client.build_request("POST", url, content=payload, headers=headers, extensions=extensions)
        response = await self.client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= self.max_response_bytes:
                    break
        finally:
            await response.aclose()
        return response.status_code

    async def send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """Deliver `body` to the target URL; never raises for delivery failures."""
        payload = body.encode("utf-8")
        key = endpoint_key(self.master, target.address)
        secret = endpoint_secret(self.master, target.address)
        last_status: int | None = None
        last_error = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            now = int(time.time())
            headers = {
                "Content-Type": "application/json",
                # A receiver's compressed answer is never inflated (and is read only in part).
                "Accept-Encoding": "identity",
                EVENT_ID_HEADER: str(notice.event_id),
                EVENT_TYPE_HEADER: notice.event_type,
                TIMESTAMP_HEADER: str(now),
                SIGNATURE_HEADER: sign(key, str(now), payload),
                **standard_headers(secret, str(notice.event_id), now, body),
            }
            retryable = True
            async with self._slot(target.address):
                try:
                    # One deadline for the whole attempt: a name that resolves slowly counts too.
                    async with asyncio.timeout(self.attempt_deadline):
                        url, extra, extensions = await self._request_target(target)
                        status = await self._attempt(url, payload, headers | extra, extensions)
                except AddressRefused as exc:
                    # Never retried: the same address would be refused again.
                    return DeliveryResult("failed", attempt, None, str(exc))
                except TimeoutError:
                    last_status, last_error = None, f"no answer within {self.attempt_deadline:g} s"
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    last_status, last_error = None, f"{type(exc).__name__}: {exc}"[:500]
                else:
                    last_status = status
                    if 200 <= status < 300:
                        return DeliveryResult("delivered", attempt, status)
                    last_error = f"HTTP {status}"
                    retryable = is_retryable_status(status)
            if not retryable:
                return DeliveryResult("failed", attempt, last_status, last_error)
            if attempt < self.policy.attempts:
                await self._sleep(self.policy.delay(attempt, self._rand()))
        return DeliveryResult("failed", self.policy.attempts, last_status, last_error, retryable=True)
