"""E-mail delivery over SMTP (aiosmtplib), rendered from the package's jinja2 templates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
from jinja2 import Environment, PackageLoader, StrictUndefined

from lanthanide_notification.domain.model import DeliveryResult, Notice, NoticeKind, Target
from lanthanide_notification.domain.retry import RetryPolicy

_TEMPLATES = {
    NoticeKind.RECEIVED: "received.txt.j2",
    NoticeKind.REJECTED: "rejected.txt.j2",
    NoticeKind.INFO_REQUESTED: "info_requested.txt.j2",
    NoticeKind.APPROVED: "approved.txt.j2",
    NoticeKind.DENIED: "denied.txt.j2",
    NoticeKind.NO_LICENCE_REQUIRED: "no_licence_required.txt.j2",
    NoticeKind.WITHDRAWN: "withdrawn.txt.j2",
}


class MailRenderer:
    """Subject and plain-text body for a notice. The first template line is the subject."""

    def __init__(self) -> None:
        # Plain-text mail: nothing to escape, and a missing variable is a bug, not a blank.
        self.env = Environment(
            loader=PackageLoader("lanthanide_notification", "templates"),
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, notice: Notice) -> tuple[str, str]:
        """(subject, body) of the mail telling someone about `notice`."""
        text = self.env.get_template(_TEMPLATES[notice.kind]).render(
            kind=notice.kind.value, event_id=str(notice.event_id), **notice.context
        )
        subject, _, body = text.partition("\n")
        return subject.removeprefix("Subject:").strip(), body.lstrip("\n")


class EmailSender:
    """Sends one mail per notice and address; retries connection failures and 4xx SMTP replies."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        renderer: MailRenderer,
        policy: RetryPolicy,
        use_tls: bool = False,
        start_tls: bool | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 15.0,
        max_connections: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.renderer = renderer
        self.policy = policy
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.username = username
        self.password = password
        self.timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._sleep = sleep
        self._rand = rand

    def message(self, notice: Notice, to: str) -> EmailMessage:
        """The MIME message for `notice` addressed to `to`."""
        subject, body = self.renderer.render(notice)
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(idstring=str(notice.event_id), domain="lanthanide.local")
        msg["X-Lanthanide-Event-Id"] = str(notice.event_id)
        msg.set_content(body)
        return msg

    async def send(self, notice: Notice, target: Target, body: str) -> DeliveryResult:
        """Send the rendered mail to the target address; never raises for delivery failures."""
        msg = self.message(notice, target.address)
        last_error = "no attempt made"
        last_code: int | None = None
        for attempt in range(1, self.policy.attempts + 1):
            async with self._slots:
                try:
                    await aiosmtplib.send(
                        msg, hostname=self.host, port=self.port, use_tls=self.use_tls,
                        start_tls=self.start_tls, username=self.username,
                        password=self.password, timeout=self.timeout,
                    )
                    return DeliveryResult("delivered", attempt, 250)
                except aiosmtplib.SMTPResponseException as exc:
                    last_code, last_error = exc.code, f"SMTP {exc.code}: {exc.message}"[:500]
                    if exc.code < 400 or exc.code >= 500:
                        # 5xx is permanent (bad address, refused): retrying cannot help.
                        return DeliveryResult("failed", attempt, exc.code, last_error)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    last_code, last_error = None, f"{type(exc).__name__}: {exc}"[:500]
            if attempt < self.policy.attempts:
                await self._sleep(self.policy.delay(attempt, self._rand()))
        return DeliveryResult("failed", self.policy.attempts, last_code, last_error, retryable=True)
