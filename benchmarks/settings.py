"""Settings for the benchmark server and scripts: the app's base settings, plus the bare
endpoints' URLs, a raised submit throttle and DEBUG off (no query log, as in production).

The benchmark scripts set DATABASE_URL and REDIS_URL to a database and a Redis db of their
own (benchmarks.common); this module refuses the dev and test databases. A script may send
the server's tasks to a queue of its own (BENCH_CELERY_QUEUE) and delete it afterwards, and
turns a channel on through the server's environment (RASAD_WHATSAPP_APP_SECRET, …), as in
production.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from ops.settings.base import *  # noqa: F403
from ops.settings.base import DATABASES, REST_FRAMEWORK, env_bool

ROOT_URLCONF = "benchmarks.urls"
DEBUG = env_bool("DEBUG", False)

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "submit": os.environ.get("RASAD_SUBMIT_RATE", "1000000/minute"),
    },
}

# No worker consumes the benchmark's tasks: a script that queues some names the queue and
# deletes it after the run (benchmarks/channels.py).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "celery")

if env_bool("BENCH_DB_POOL", False):
    # Django's psycopg pool (needs psycopg_pool): what ASGI needs instead of CONN_MAX_AGE,
    # since every ASGI request runs its sync code in a new thread with its own connection.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": int(os.environ.get("BENCH_DB_POOL_SIZE", "10"))}

_name = DATABASES["default"]["NAME"] or ""
if _name in {"rasad", "postgres", "template0", "template1"} or _name.startswith("test"):
    raise ImproperlyConfigured(
        f"benchmarks.settings refuses the database {_name!r}: set DATABASE_URL to a "
        "benchmark database (the scripts use rasad_bench_intake and rasad_bench_clustering)."
    )
