#!/bin/sh
# One-shot job: create Temporal's two PostgreSQL databases (and Lumen's registry's) and bring Temporal's schemas up
# to date.
# Idempotent: "create" tolerates an existing database and update-schema only applies missing versions.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do echo "waiting for postgres at $POSTGRES_SEEDS:$DB_PORT"; sleep 1; done

tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" --pw "$POSTGRES_PWD" "$@"
}

# lumen: Lumen's registry (LUMEN_REGISTRY_URL), migrated by the workers themselves when they start
for db in temporal temporal_visibility lumen; do
  tool --db "$db" create || echo "database $db already exists"
done
tool --db temporal setup-schema -v 0.0
tool --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"
tool --db temporal_visibility setup-schema -v 0.0
tool --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"
echo "temporal schemas ready"
