"""Email over SMTP (aiosmtplib): plain, STARTTLS or implicit TLS, optional login."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib

from sitewatch.alerts import messages
from sitewatch.alerts.channels import DeliveryError, Progress
from sitewatch.alerts.messages import Rendered
from sitewatch.config.models import EmailAlert


def message(
    alert: EmailAlert, event: dict[str, Any], rendered: Rendered | None = None
) -> EmailMessage:
    """The email (pure: tests read it); ``rendered``: its parts, made by the caller
    off the event loop when the alert has templates."""
    parts = rendered or messages.email(event, alert.templates, alert.subject_prefix)
    subject, text, html = parts["subject"], parts["text"], parts["html"]
    msg = EmailMessage()
    msg["From"] = alert.sender
    msg["To"] = ", ".join(alert.to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    # The event id makes a retried message recognisable as the same one.
    msg["Message-ID"] = f"<{event['event_id']}@sitewatch>"
    msg["X-Sitewatch-Event-Id"] = event["event_id"]
    msg["X-Sitewatch-Event"] = event["type"]
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


class EmailChannel:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        # None: the system's trust store; tests pass one that trusts their own CA.
        self.ssl_context = ssl_context

    async def send(self, alert: EmailAlert, event: dict[str, Any], progress: Progress) -> str:
        rendered = (
            messages.email(event, None, alert.subject_prefix)
            if alert.templates is None
            else await asyncio.to_thread(
                messages.email, event, alert.templates, alert.subject_prefix
            )
        )
        try:
            refused, reply = await aiosmtplib.send(
                message(alert, event, rendered),
                hostname=alert.host,
                port=alert.effective_port,
                username=alert.username,
                password=alert.password,
                use_tls=alert.tls == "tls",
                start_tls=alert.tls == "starttls",
                tls_context=self.ssl_context,
                timeout=alert.timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP {alert.host}:{alert.effective_port}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise DeliveryError(
                f"SMTP {alert.host}:{alert.effective_port} unreachable: {reason}"
            ) from None
        if refused:
            return rendered.note(f"accepted except {', '.join(sorted(refused))}: {reply}")
        return rendered.note(reply)
