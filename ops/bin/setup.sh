#!/usr/bin/env bash
# One set-up for `make run`, `make test` and CI: installs what is missing (Debian packages,
# the .venv), starts PostgreSQL and Redis if they are stopped, creates the database and
# migrates. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

PG_VERSION=15
APT_PACKAGES=(
  "postgresql-${PG_VERSION}" "postgresql-${PG_VERSION}-postgis-3" "postgresql-${PG_VERSION}-pgrouting"
  gdal-bin libgdal-dev libgeos-dev libproj-dev redis-server osmium-tool
  gettext chromium fonts-noto-core fonts-dejavu-core
  # WeasyPrint (the monthly report's PDF) loads these with cffi; fonts-noto-core has Noto
  # Naskh Arabic for Arabic and Persian.
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL: a cluster must exist and run.
if ! pg_lsclusters -h 2>/dev/null | grep -q "^${PG_VERSION} "; then
  log "creating PostgreSQL ${PG_VERSION} cluster"
  $SUDO pg_createcluster "${PG_VERSION}" main
fi
if ! pg_lsclusters -h | awk -v v="${PG_VERSION}" '$1==v && $2=="main"{print $4}' | grep -q online; then
  log "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "${PG_VERSION}" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done

# Redis.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/rasad.log
  for _ in $(seq 1 20); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# The database role used by the app: postgres with password "postgres" over TCP, unless
# DATABASE_URL says otherwise. On a machine with password auth, set that password once.
if [ -z "${DATABASE_URL:-}" ]; then
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1" >/dev/null 2>&1; then
    log "setting the local postgres role's password"
    if [ -z "$SUDO" ]; then
      runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'"
    else
      sudo -u postgres psql -q -c "ALTER USER postgres PASSWORD 'postgres'"
    fi
  fi
  DB_NAME=rasad
  if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc \
      "select 1 from pg_database where datname='${DB_NAME}'" | grep -q 1; then
    log "creating database ${DB_NAME}"
    PGPASSWORD=postgres createdb -h 127.0.0.1 -U postgres "${DB_NAME}"
  fi
fi

# Python: a .venv with the project and its dev extra, reinstalled when pyproject changes.
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.rasad-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing Python dependencies"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi

mkdir -p var/static var/media var/log var/run
if [ -d map_ui/locale ]; then
  .venv/bin/python manage.py compilemessages --ignore=.venv -v 0
fi
log "migrating"
.venv/bin/python manage.py migrate --noinput -v 0
log "ready"
