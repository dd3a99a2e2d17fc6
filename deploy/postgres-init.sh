#!/bin/bash
# One role per service, owning its own database (and so that database's public schema); no other
# role may connect to it. Passwords come from the secrets /run/secrets/db_<service> (another
# directory: DB_SECRETS_DIR). The superuser (POSTGRES_USER) keeps the server; the services never
# use it.
# Run once, on an empty data directory, by the postgres image's entrypoint.
set -euo pipefail
for svc in screening review notification audit; do
  pw="$(tr -d '\n' < "${DB_SECRETS_DIR:-/run/secrets}/db_$svc")"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q \
       --set=svc="$svc" --set=pw="$pw" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'pw';
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -q <<SQL
REVOKE ALL ON DATABASE postgres, template1, "$POSTGRES_DB" FROM PUBLIC;
SQL
