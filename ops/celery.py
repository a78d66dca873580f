"""The Celery app and its beat schedule."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ops.settings.base")

app = Celery("rasad")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "incidents-recluster": {
        "task": "incidents.tasks.incidents_recluster_task",
        "schedule": float(os.environ.get("RASAD_RECLUSTER_EVERY_S", "300")),
    },
    "incidents-reprioritize": {
        "task": "incidents.tasks.incidents_reprioritize_task",
        "schedule": 600.0,
    },
    "notifications-sweep": {
        "task": "incidents.tasks.notifications_sweep_task",
        "schedule": float(os.environ.get("RASAD_NOTIFY_SWEEP_S", "60")),
    },
    "positions-purge": {
        "task": "crews.tasks.positions_purge_task",
        "schedule": 3600.0,
    },
    "photos-fetch-sweep": {
        "task": "incidents.tasks.photo_fetch_sweep_task",
        "schedule": 120.0,
    },
    "channels-inbound-sweep": {
        "task": "incidents.tasks.channel_inbound_sweep_task",
        "schedule": 60.0,
    },
    "conversations-expire": {
        "task": "incidents.tasks.conversations_expire_task",
        "schedule": 300.0,
    },
    "stats-refresh": {
        "task": "incidents.tasks.stats_refresh_task",
        "schedule": float(os.environ.get("RASAD_STATS_REFRESH_S", "300")),
    },
    "email-imap-poll": {
        "task": "incidents.tasks.email_imap_poll_task",
        "schedule": float(os.environ.get("RASAD_IMAP_EVERY_S", "60")),
    },
}
