"""Kept for the delivery worker's type import: the use cases are service_layer/handlers.py's."""

from lanthanide_notification.service_layer.handlers import NotificationService

__all__ = ["NotificationService"]
