"""Email over SMTP: a plain-text message per notice, through STARTTLS or implicit TLS (the relay's certificate
verified), or plain SMTP to a relay on this machine; optionally logged in with a password."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import structlog

from responder.notify import render
from responder.notify.delivery import DeliveryFailed
from responder.notify.notice import Notice
from responder.notify.settings import NotifierConfig
from responder.secret import Secret

log = structlog.get_logger("responder.notify")


class EmailNotifier:
    def __init__(
        self,
        config: NotifierConfig,
        password: Secret | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if config.smtp_host is None or config.mail_from is None:
            raise ValueError("an email notifier needs smtp_host and mail_from")  # the settings model ensures both
        self.name = config.name
        self._host = config.smtp_host
        self._port = config.port
        self._security = config.security
        self._ca_file = config.ca_file
        self._username = config.username
        self._password = password
        self._from = config.mail_from
        self._to = config.mail_to
        self._prefix = config.subject_prefix
        self._timeout = config.timeout_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"EmailNotifier({self.name!r}, host={self._host!r})"

    def message(self, notice: Notice, delivery_id: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{self._prefix} {render.headline(notice)}".strip()
        message["From"] = self._from
        message["To"] = ", ".join(self._to)
        message["Date"] = format_datetime(self._clock())
        # The same for every retry of one notice, so a mailbox or relay can drop a duplicate.
        message["Message-ID"] = f"<{delivery_id}@responder.notify>"
        message.set_content(render.text(notice))
        return message

    def send(self, notice: Notice, delivery_id: str) -> None:
        message = self.message(notice, delivery_id)
        where = f"{self._host}:{self._port}"
        try:
            with self._connect() as smtp:
                if self._security == "starttls":
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password.reveal())
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"{where}: login refused (SMTP {exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed(f"{where}: every recipient was refused") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed(f"{where}: the relay does not offer STARTTLS or login") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"{where} answered SMTP {exc.smtp_code}") from None
        except ssl.SSLCertVerificationError:
            raise DeliveryFailed(f"{where}: the relay's certificate is not trusted (see ca_file)") from None
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError, timeouts and refused connections too
            raise DeliveryFailed(f"{where}: {type(exc).__name__}") from None
        if refused:
            # The message went to the others; sending again would repeat it for them.
            log.warning("notification_recipients_refused", notifier=self.name, refused=len(refused))

    def _connect(self) -> smtplib.SMTP:
        if self._security == "tls":
            return smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=self._tls())
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self._ca_file) if self._ca_file else None)

    def close(self) -> None:
        return None
