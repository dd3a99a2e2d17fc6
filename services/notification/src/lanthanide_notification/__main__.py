"""`python -m lanthanide_notification`: run the notification service as its own process."""

from lanthanide.early import main

if __name__ == "__main__":
    main(
        "notification",
        settings="lanthanide_notification.settings:NotificationSettings",
        app="lanthanide_notification.bootstrap:service_app",
    )
