"""Delivery backends for messages to reporters, one per channel, behind one interface."""

from incidents.notifications.backends import (
    DeliveryFailed,
    DeliveryUnavailable,
    backend_for,
)

__all__ = ["DeliveryFailed", "DeliveryUnavailable", "backend_for"]
