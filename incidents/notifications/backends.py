"""Delivery: each outbox channel is sent by its provider's adapter (incidents.channels):
email through Django's email backend, SMS through a Twilio-style API, WhatsApp through the
Cloud API, Telegram and Bale through their bot APIs, Messenger through the Send API.

An adapter raises DeliveryUnavailable for transient trouble (retry later) and DeliveryFailed
when the message can never go (a bad address, a closed window with no template)."""

from typing import Protocol


class DeliveryUnavailable(Exception):
    """Try again later: the provider or the network is down, or not configured yet."""


class DeliveryFailed(Exception):
    """This message can never be delivered."""


class Backend(Protocol):
    def send(self, notification) -> str:
        """Send one outbox row; return the provider's id of the message."""


def backend_for(channel: str) -> Backend:
    from incidents.channels.providers import provider_get

    provider = provider_get(channel)
    if provider is None:
        raise DeliveryFailed(f"unknown channel {channel}")
    return provider
