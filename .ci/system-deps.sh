#!/usr/bin/env bash
# Debian packages the project needs: MariaDB client headers and pkg-config to build
# mysqlclient, Chromium for the browser tests, the database clients for services.sh.
set -euo pipefail

need=()
pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null \
  || need+=(default-libmysqlclient-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v gcc >/dev/null || need+=(gcc)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v psql >/dev/null || need+=(postgresql-client)
command -v mysql >/dev/null || need+=(mariadb-client)
command -v redis-server >/dev/null || need+=(redis-server)

if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
