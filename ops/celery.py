"""The Celery app and its beat schedule."""

import os

from celery import Celery
from celery.schedules import crontab

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
    # The public plow map: pings matched to road passes, then its cached GeoJSON rebuilt.
    "plow-passes-match": {
        "task": "crews.tasks.plow_passes_match_task",
        "schedule": 60.0,
    },
    "plow-map-refresh": {
        "task": "crews.tasks.plow_map_refresh_task",
        "schedule": 60.0,
    },
    "positions-purge": {
        "task": "crews.tasks.positions_purge_task",
        "schedule": 3600.0,
    },
    "storm-modes-sweep": {
        "task": "crews.tasks.storm_modes_sweep_task",
        "schedule": 60.0,
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
    "surveys-send": {
        "task": "incidents.tasks.surveys_send_due_task",
        "schedule": 60.0,
    },
    "surveys-remind": {
        "task": "incidents.tasks.surveys_remind_due_task",
        "schedule": 300.0,
    },
    "surveys-expire": {
        "task": "incidents.tasks.surveys_expire_task",
        "schedule": 3600.0,
    },
    "surveys-followup": {
        "task": "incidents.tasks.surveys_followup_schedule_task",
        "schedule": 3600.0,
    },
    # The previous month's report to the managers, on the 1st (RASAD_REPORT_MAIL_HOUR, in
    # Celery's time zone, UTC).
    "monthly-report-mail": {
        "task": "incidents.tasks.monthly_report_mail_task",
        "schedule": crontab(minute=0, hour=int(os.environ.get("RASAD_REPORT_MAIL_HOUR", "6")),
                            day_of_month=1),
    },
    "email-imap-poll": {
        "task": "incidents.tasks.email_imap_poll_task",
        "schedule": float(os.environ.get("RASAD_IMAP_EVERY_S", "60")),
    },
    # Referrals to outside agencies: send, poll their Open311 answers, chase late ones.
    "referrals-sweep": {
        "task": "incidents.tasks.referrals_sweep_task",
        "schedule": float(os.environ.get("RASAD_REFERRAL_SWEEP_S", "300")),
    },
    # Area alerts: new and resolved incidents to immediate subscribers every minute; the
    # daily digest at RASAD_ALERT_DIGEST_HOUR (UTC).
    "alerts-immediate": {
        "task": "incidents.tasks.alerts_immediate_task",
        "schedule": float(os.environ.get("RASAD_ALERT_SWEEP_S", "60")),
    },
    "alerts-digest": {
        "task": "incidents.tasks.alerts_digest_task",
        "schedule": crontab(minute=0, hour=int(os.environ.get("RASAD_ALERT_DIGEST_HOUR", "5"))),
    },
}
