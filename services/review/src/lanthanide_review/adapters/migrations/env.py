"""Alembic environment for the review store (lanthanide.migrations.run_env).

The service applies the migrations at start on its own engine; from the command line the URL
comes from LANTHANIDE_REVIEW_DATABASE_URL (or the older LANTHANIDE_REVIEW_DB_URL).
"""

from lanthanide.migrations import run_env
from lanthanide_review.adapters.orm import metadata

run_env(metadata, ["LANTHANIDE_REVIEW_DATABASE_URL", "LANTHANIDE_REVIEW_DB_URL"])
