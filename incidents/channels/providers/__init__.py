"""The providers, one module each, all behind incidents.channels.base.ChannelProvider."""

from incidents.channels.base import ChannelProvider
from incidents.channels.providers.email import EmailProvider
from incidents.channels.providers.messenger import MessengerProvider
from incidents.channels.providers.sms import SmsProvider
from incidents.channels.providers.telegram import BaleProvider, TelegramProvider
from incidents.channels.providers.whatsapp import WhatsAppProvider

PROVIDERS: dict[str, ChannelProvider] = {
    provider.name: provider for provider in (
        WhatsAppProvider(), TelegramProvider(), BaleProvider(), SmsProvider(),
        MessengerProvider(), EmailProvider())
}


def provider_get(name: str) -> ChannelProvider | None:
    return PROVIDERS.get(name)


__all__ = ["PROVIDERS", "provider_get"]
