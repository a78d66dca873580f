#!/usr/bin/env bash
# Serve the demo city: the ASGI server, a Celery worker and beat, stopped together on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RASAD_DEMO=${RASAD_DEMO:-true}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var/run var/log
if [ "$RASAD_DEMO" = "true" ]; then
  # The satisfaction survey goes a minute after a resolution instead of two hours.
  export RASAD_SURVEY_DELAY_HOURS=${RASAD_SURVEY_DELAY_HOURS:-0.02}
fi

roads=$(bash ops/bin/demo_roads.sh)
.venv/bin/python manage.py load_demo --roads "$roads"
.venv/bin/python manage.py collectstatic --noinput -v 0

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

.venv/bin/celery -A ops worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
pids+=($!)
if [ "$RASAD_DEMO" = "true" ]; then
  # The demo's stand-in for the messaging providers' APIs (WhatsApp, Telegram, Bale, SMS,
  # Messenger): what the bot sends goes there; GET /_fake/sent lists it.
  provider_port=${RASAD_DEMO_PROVIDER_PORT:-8025}
  export RASAD_DEMO_PROVIDER_URL=${RASAD_DEMO_PROVIDER_URL:-http://127.0.0.1:${provider_port}}
  .venv/bin/python -m fixtures.fake_providers --port "$provider_port" >var/log/providers.log 2>&1 &
  pids+=($!)
fi
.venv/bin/celery -A ops beat --loglevel=INFO --schedule=var/run/celerybeat-schedule \
  >var/log/beat.log 2>&1 &
pids+=($!)

cat <<TXT

  Rasad is running at http://${HOST}:${PORT}/
    API docs      http://${HOST}:${PORT}/api/docs/
    Open311       http://${HOST}:${PORT}/open311/v2/discovery.json   (demo api_key: demo-open311-key)
    Inbox, desk   http://${HOST}:${PORT}/console/inbox/  http://${HOST}:${PORT}/console/intake/
    Dashboard     http://${HOST}:${PORT}/console/dashboard/   (log in as manager)
    Public        http://${HOST}:${PORT}/public/  http://${HOST}:${PORT}/open-data/  http://${HOST}:${PORT}/public/plows/
    Meetings      http://${HOST}:${PORT}/console/meetings/   Notices  http://${HOST}:${PORT}/console/notices/
    Alerts        http://${HOST}:${PORT}/alerts/   (CAP: /alerts/cap.xml while a storm mode is on)
    Storm mode    .venv/bin/python manage.py storm_demo --hours 2   (--off ends it)
    Channels      http://${HOST}:${PORT}/channels/<whatsapp|telegram|bale|sms|messenger|email>/webhook
                  try: .venv/bin/python manage.py channels_play whatsapp
    Back office   http://${HOST}:${PORT}/admin/
  Worker and beat logs: var/log/worker.log, var/log/beat.log. Stop with Ctrl-C.

TXT
.venv/bin/uvicorn ops.asgi:application --host "$HOST" --port "$PORT" --workers 1 \
  --log-level warning &
pids+=($!)
wait "${pids[-1]}"
