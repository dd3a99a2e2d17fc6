"""Notification service: tells applicants and subscribers about their cases (webhooks, e-mail)."""

SERVICE = "notification"
GROUP_ID = "lanthanide-notification"
