"""Alembic environment for the notification store (lanthanide.migrations.run_env).

The service applies the migrations at start on its own engine; from the command line the URL
comes from LANTHANIDE_NOTIFICATION_DATABASE_URL (or the older LANTHANIDE_NOTIFICATION_DB_URL).
"""

from lanthanide.migrations import run_env
from lanthanide_notification.adapters.store import metadata

run_env(metadata, ["LANTHANIDE_NOTIFICATION_DATABASE_URL", "LANTHANIDE_NOTIFICATION_DB_URL"])
