"""Alembic environment for the audit store (lanthanide.migrations.run_env).

The service applies the migrations at start on its own engine; from the command line the URL
comes from LANTHANIDE_AUDIT_DATABASE_URL (or the older LANTHANIDE_AUDIT_DB_URL).
"""

from lanthanide.migrations import run_env
from lanthanide_audit.adapters.store import metadata

run_env(metadata, ["LANTHANIDE_AUDIT_DATABASE_URL", "LANTHANIDE_AUDIT_DB_URL"])
