"""Channels: email through Django's email backends; SMS and WhatsApp through an HTTP gateway
(any provider reachable with a JSON POST; set RASAD_SMS_GATEWAY_URL / RASAD_WHATSAPP_GATEWAY_URL).

A backend raises DeliveryUnavailable for transient trouble (retry later) and DeliveryFailed
when the message can never go (a bad address)."""

import logging
from typing import Protocol

import httpx
from django.conf import settings
from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)


class DeliveryUnavailable(Exception):
    """Try again later: the provider or the network is down, or not configured yet."""


class DeliveryFailed(Exception):
    """This message can never be delivered."""


class Backend(Protocol):
    def send(self, *, recipient: str, subject: str, body: str, language: str,
             idempotency_key: str) -> None: ...


class EmailBackend:
    def send(self, *, recipient, subject, body, language, idempotency_key) -> None:
        message = EmailMessage(subject=subject, body=body, to=[recipient],
                               headers={"Content-Language": language,
                                        "X-Rasad-Message-Id": idempotency_key})
        try:
            message.send(fail_silently=False)
        except (OSError, ConnectionError) as exc:
            raise DeliveryUnavailable(str(exc)) from exc


class HttpGatewayBackend:
    """POST {"to", "text", "language", "id"} to a gateway; `id` lets it drop duplicates."""

    def __init__(self, setting: str):
        self.setting = setting

    def send(self, *, recipient, subject, body, language, idempotency_key) -> None:
        url = getattr(settings, self.setting, "")
        if not url:
            raise DeliveryUnavailable(f"{self.setting} is not set")
        try:
            response = httpx.post(url, json={"to": recipient, "text": f"{subject}\n{body}",
                                             "language": language, "id": idempotency_key},
                                  timeout=10)
        except httpx.TransportError as exc:
            raise DeliveryUnavailable(str(exc)) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


def backend_for(channel: str) -> Backend:
    if channel == "email":
        return EmailBackend()
    if channel == "sms":
        return HttpGatewayBackend("RASAD_SMS_GATEWAY_URL")
    if channel == "whatsapp":
        return HttpGatewayBackend("RASAD_WHATSAPP_GATEWAY_URL")
    raise DeliveryFailed(f"unknown channel {channel}")
