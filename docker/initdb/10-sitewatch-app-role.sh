#!/bin/sh
# Runs once, when the database volume is created (the postgres image's
# /docker-entrypoint-initdb.d). sitewatch connects as sitewatch_app: it owns the
# sitewatch database and its public schema (so migrations can create tables),
# and is not a superuser, cannot create databases or roles.
set -eu
: "${SITEWATCH_DB_PASSWORD:?set SITEWATCH_DB_PASSWORD in docker/.env}"
db="${POSTGRES_DB:-$POSTGRES_USER}"
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$db" \
  -v password="$SITEWATCH_DB_PASSWORD" -v db="$db" <<'SQL'
CREATE ROLE sitewatch_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO sitewatch_app;
ALTER SCHEMA public OWNER TO sitewatch_app;
SQL
