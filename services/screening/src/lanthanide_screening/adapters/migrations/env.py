"""Alembic environment for the screening store (lanthanide.migrations.run_env).

The service applies the migrations at start on its own engine; from the command line the URL
comes from LANTHANIDE_SCREENING_DATABASE_URL (or the older LANTHANIDE_SCREENING_DB_URL).
"""

from lanthanide.migrations import run_env
from lanthanide_screening.adapters.store import metadata

run_env(metadata, ["LANTHANIDE_SCREENING_DATABASE_URL", "LANTHANIDE_SCREENING_DB_URL"])
