#!/usr/bin/env bash
# Make sure the local PostgreSQL and MariaDB answer, then create the databases and
# roles the tests and `make run` use. Safe to run again.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "Starting PostgreSQL..."
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  echo "Starting MariaDB..."
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
# Redis: the shared-cache tests (CACHE_URL=redis://…) use the machine's own.
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis..."
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
mysqladmin -h 127.0.0.1 -uroot ping

psql_admin() { psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U postgres "$@"; }
# The statement-check tests install dblink in the target database to prove it
# is refused however spelled: it ships with the server's contrib modules.
if ! psql_admin -tAc "SELECT 1 FROM pg_available_extensions WHERE name='dblink'" | grep -q 1; then
  echo "Installing PostgreSQL's contrib modules (dblink)..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib
fi
# The app database for tests (pytest-django creates test_sqlagent from it) and
# the target database the tests fill.
for db in sqlagent sqlagent_target; do
  psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || psql_admin -c "CREATE DATABASE $db"
done
psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname='sqlagent_reader'" | grep -q 1 \
  || psql_admin -c "CREATE ROLE sqlagent_reader LOGIN PASSWORD 'reader-pw'"
# The machine's PostgreSQL trusts 127.0.0.1; the reader role must prove its
# password, so wrong-password handling is tested for real. The rule goes first
# (the first matching line wins) and touches no other role.
hba=$(psql_admin -tAc "SHOW hba_file")
if ! grep -q "sqlagent_reader" "$hba"; then
  rules="host all sqlagent_reader 127.0.0.1/32 scram-sha-256\nhost all sqlagent_reader ::1/128 scram-sha-256"
  as_root sed -i "1i $rules" "$hba"
  psql_admin -tAc "SELECT pg_reload_conf()" >/dev/null
fi
psql_admin -c "ALTER ROLE sqlagent_reader PASSWORD 'reader-pw'" >/dev/null
psql_admin -d sqlagent_target -c "GRANT USAGE ON SCHEMA public TO sqlagent_reader;
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO sqlagent_reader;"

mysql -h 127.0.0.1 -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS sqlagent_target CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'sqlagent_reader'@'localhost' IDENTIFIED BY 'reader-pw';
CREATE USER IF NOT EXISTS 'sqlagent_reader'@'127.0.0.1' IDENTIFIED BY 'reader-pw';
CREATE USER IF NOT EXISTS 'sqlagent_reader'@'%' IDENTIFIED BY 'reader-pw';
GRANT SELECT ON sqlagent_target.* TO 'sqlagent_reader'@'localhost';
GRANT SELECT ON sqlagent_target.* TO 'sqlagent_reader'@'127.0.0.1';
GRANT SELECT ON sqlagent_target.* TO 'sqlagent_reader'@'%';
FLUSH PRIVILEGES;
SQL
echo "Databases ready."
