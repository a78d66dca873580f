"""Settings read from the environment, with defaults that work on a developer machine."""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production")
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")
# Demo mode: the demo Open311 key works and demo passwords are printed. Never in production.
RASAD_DEMO = env_bool("RASAD_DEMO", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "ops",
    "gis.apps.GisConfig",
    "incidents",
    "crews",
    "map_ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ops.urls"
WSGI_APPLICATION = "ops.wsgi.application"
ASGI_APPLICATION = "ops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "map_ui.context.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgis://postgres:postgres@127.0.0.1:5432/rasad"),
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "ops.redis_cache.RedisCache",  # shares connections: see the module
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "rasad",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No read timeout: channels_redis waits up to 5 s for a message, and redis-py's own
        # 5 s read timeout would otherwise drop idle websocket consumers.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("ar", _("Arabic")), ("fa", _("Persian")), ("en", _("English"))]
LANGUAGES_BIDI = ["ar", "fa"]
LOCALE_PATHS = [BASE_DIR / "map_ui" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# What citizens send over messaging channels waits here, served to staff only, until an
# agent or the dialogue files it (reports get their own cleaned copies under MEDIA_ROOT).
PRIVATE_MEDIA_ROOT = Path(os.environ.get("PRIVATE_MEDIA_ROOT", BASE_DIR / "var" / "private"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": PRIVATE_MEDIA_ROOT, "base_url": "/private-media/"}},
}
# Uploads: photos are checked by content in incidents.photos; these bound what Django buffers.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 10

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "ops.schema.AutoSchema",
    "EXCEPTION_HANDLER": "incidents.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "submit": os.environ.get("RASAD_SUBMIT_RATE", "60/minute"),
    },
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")) or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rasad API",
    "DESCRIPTION": "Citizen reports, incidents, crews and routes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"IncidentStatusEnum": "incidents.models.Status.choices",
                            "ChannelEnum": "incidents.models.Channel.choices"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/after-login/"
LOGOUT_REDIRECT_URL = "/"

# Rasad's own knobs.
RASAD_PHOTO_MAX_BYTES = int(os.environ.get("RASAD_PHOTO_MAX_BYTES", str(8 * 1024 * 1024)))
RASAD_PHOTO_MAX_PIXELS = int(os.environ.get("RASAD_PHOTO_MAX_PIXELS", str(40_000_000)))
RASAD_PHOTOS_PER_REPORT = 5
RASAD_DESCRIPTION_MAX_CHARS = 4000
RASAD_MEDIA_FETCH_TIMEOUT_S = float(os.environ.get("RASAD_MEDIA_FETCH_TIMEOUT_S", "10"))
RASAD_RECLUSTER_EVERY_S = int(os.environ.get("RASAD_RECLUSTER_EVERY_S", "300"))
RASAD_REOPEN_DAYS = int(os.environ.get("RASAD_REOPEN_DAYS", "14"))
# The satisfaction survey (incidents.services.survey): sent to each reporter this long after
# their problem is resolved, reminded once when unanswered, closed after some days; asked
# again this many weeks after the resolution when nobody has confirmed the fix.
RASAD_SURVEY_DELAY_HOURS = float(os.environ.get("RASAD_SURVEY_DELAY_HOURS", "2"))
RASAD_SURVEY_REMINDER_HOURS = float(os.environ.get("RASAD_SURVEY_REMINDER_HOURS", "48"))
RASAD_SURVEY_EXPIRES_DAYS = float(os.environ.get("RASAD_SURVEY_EXPIRES_DAYS", "14"))
RASAD_SURVEY_FOLLOWUP_WEEKS = float(os.environ.get("RASAD_SURVEY_FOLLOWUP_WEEKS", "4"))
# Public base URL used in links inside messages and Open311 media URLs.
RASAD_PUBLIC_URL = os.environ.get("RASAD_PUBLIC_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                # One line per request to a provider is noise; failures are logged by us.
                "httpx": {"level": "WARNING"},
                # WeasyPrint logs each step of every monthly report's PDF.
                "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# Debian 12 ships GDAL 3.6, which cannot block file/network access from spatial references.
# Rasad never hands user input to GDAL: points arrive as numbers, areas only from staff files.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Messages to reporters. Email uses Django's email backend (console in development).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Rasad <no-reply@rasad.local>")
RASAD_POSITION_RETENTION_DAYS = int(os.environ.get("RASAD_POSITION_RETENTION_DAYS", "30"))
# Open311 media_url fetches never reach private or loopback addresses unless this is set
# (tests serve photos from 127.0.0.1).
RASAD_MEDIA_FETCH_ALLOW_PRIVATE = env_bool("RASAD_MEDIA_FETCH_ALLOW_PRIVATE", False)

# The basemap. Pages draw the city's streets from the road network when tiles cannot load.
RASAD_TILE_URL = os.environ.get("RASAD_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
RASAD_TILE_ATTRIBUTION = os.environ.get(
    "RASAD_TILE_ATTRIBUTION", "&copy; OpenStreetMap contributors")
# How often a process checks that its index of street names is still the network's.
RASAD_GEOCODE_INDEX_CHECK_S = float(os.environ.get("RASAD_GEOCODE_INDEX_CHECK_S", "60"))
# How long a process may reuse a category's definition at intake (0: never).
RASAD_CATALOGUE_CACHE_S = float(os.environ.get("RASAD_CATALOGUE_CACHE_S", "30"))


# The city's working time, the default of each service area's calendar (admin: working
# calendars; holidays are added there): SLA clocks run only then. An SLA of 24 hours is one
# working day.
RASAD_WORK_TIMEZONE = os.environ.get("RASAD_WORK_TIMEZONE",
                                     "Europe/Helsinki" if RASAD_DEMO else TIME_ZONE)
RASAD_WORK_WEEKEND = [int(d) for d in env_list("RASAD_WORK_WEEKEND", "5,6")]  # ISO: Fri, Sat
RASAD_WORK_DAY_STARTS = os.environ.get("RASAD_WORK_DAY_STARTS", "08:00")
RASAD_WORK_DAY_ENDS = os.environ.get("RASAD_WORK_DAY_ENDS", "16:00")
# A unit (department, district…) with fewer incidents in a period is listed in the rankings
# but not ranked: one quick fix cannot top the table.
RASAD_RANKING_MIN_CASES = int(os.environ.get("RASAD_RANKING_MIN_CASES", "10"))
# The dashboard caches an answer this many seconds, under the rollups' watermark (0: off).
RASAD_DASHBOARD_CACHE_S = float(os.environ.get("RASAD_DASHBOARD_CACHE_S", "300"))
# The figures are refreshed this often (and rebuilt for a range with manage.py stats_rebuild).
RASAD_STATS_REFRESH_S = float(os.environ.get("RASAD_STATS_REFRESH_S", "300"))
# The monthly report (manage.py monthly_report, the dashboard's download, and the mail to the
# managers on the 1st, at RASAD_REPORT_MAIL_HOUR UTC: ops/celery.py): each manager gets it in
# their language where it is known (RASAD_REPORT_USER_LANGUAGES, "username:lang" pairs like
# "amina:ar,reza:fa"), else in RASAD_REPORT_LANGUAGE.
RASAD_REPORT_LANGUAGE = os.environ.get("RASAD_REPORT_LANGUAGE", LANGUAGE_CODE)
RASAD_REPORT_USER_LANGUAGES = dict(
    pair.split(":", 1) for pair in env_list("RASAD_REPORT_USER_LANGUAGES", "") if ":" in pair)
# Open data (/open-data/): the licence the incident downloads are published under (shown on
# the pages, in the GeoJSON and in a Link header), and how many rows a download reads from
# the database at a time. The public figures (/public/) are cached this many seconds.
RASAD_OPEN_DATA_LICENCE = os.environ.get("RASAD_OPEN_DATA_LICENCE", "CC BY 4.0")
RASAD_OPEN_DATA_LICENCE_URL = os.environ.get("RASAD_OPEN_DATA_LICENCE_URL",
                                             "https://creativecommons.org/licenses/by/4.0/")
RASAD_OPEN_DATA_CHUNK_ROWS = int(os.environ.get("RASAD_OPEN_DATA_CHUNK_ROWS", "2000"))
RASAD_PUBLIC_CACHE_S = float(os.environ.get("RASAD_PUBLIC_CACHE_S", "300"))
# The public plow map (/public/plows/, /open-data/plowed.geojson): plows are shown where
# they were this many minutes ago, streets by their passes of the last hours; both are
# rebuilt into the cache every minute by beat (crews.tasks.plow_map_refresh_task).
RASAD_PLOW_DELAY_MINUTES = float(os.environ.get("RASAD_PLOW_DELAY_MINUTES", "5"))
RASAD_PLOW_MAP_HOURS = float(os.environ.get("RASAD_PLOW_MAP_HOURS", "24"))

# The city's country (ISO 3166 code, e.g. EG, IR, PS, AE): phone numbers typed without
# their country code (a hotline's caller ID, "040 123 4567") are read as numbers there.
RASAD_PHONE_REGION = os.environ.get("RASAD_PHONE_REGION", "FI" if RASAD_DEMO else "")

# Messaging channels (incidents.channels): a channel is on when its secret is set. Secrets
# come only from the environment; demo mode fills in the documented demo values and points
# the providers' APIs at the demo provider that `make run` starts on 127.0.0.1.
def _demo(name: str, demo_value: str, default: str = "") -> str:
    return os.environ.get(name, demo_value if RASAD_DEMO else default)


RASAD_DEMO_PROVIDER_URL = os.environ.get("RASAD_DEMO_PROVIDER_URL", "http://127.0.0.1:8025")
_PROVIDER = RASAD_DEMO_PROVIDER_URL if RASAD_DEMO else ""
# WhatsApp Business Cloud API.
RASAD_WHATSAPP_APP_SECRET = _demo("RASAD_WHATSAPP_APP_SECRET", "demo-whatsapp-secret")
RASAD_WHATSAPP_VERIFY_TOKEN = _demo("RASAD_WHATSAPP_VERIFY_TOKEN", "demo-verify-token")
RASAD_WHATSAPP_ACCESS_TOKEN = _demo("RASAD_WHATSAPP_ACCESS_TOKEN", "demo-whatsapp-token")
RASAD_WHATSAPP_PHONE_NUMBER_ID = _demo("RASAD_WHATSAPP_PHONE_NUMBER_ID", "100000000000001")
RASAD_WHATSAPP_API_URL = os.environ.get(
    "RASAD_WHATSAPP_API_URL", f"{_PROVIDER}/v21.0" if _PROVIDER else "https://graph.facebook.com/v21.0")
# Pre-approved templates for status messages outside the 24-hour window, per language:
# "lang:name" pairs; each takes two body parameters, the tracking code and the status.
RASAD_WHATSAPP_TEMPLATES = env_list(
    "RASAD_WHATSAPP_TEMPLATES",
    "en:rasad_status_update,ar:rasad_status_update,fa:rasad_status_update")
# ...and for an agent's answer outside the window: one body parameter, the answer.
RASAD_WHATSAPP_REPLY_TEMPLATES = env_list(
    "RASAD_WHATSAPP_REPLY_TEMPLATES", "en:rasad_agent_reply,ar:rasad_agent_reply,fa:rasad_agent_reply")
# ...and for the satisfaction survey (and its reminder): one body parameter, the tracking
# code ("is the problem of report {{1}} fixed?"); its quick replies, if any, say yes and no.
RASAD_WHATSAPP_SURVEY_TEMPLATES = env_list(
    "RASAD_WHATSAPP_SURVEY_TEMPLATES", "en:rasad_survey,ar:rasad_survey,fa:rasad_survey")
# ...and for area alerts, digests and notices (and the confirmation of a subscription): one
# body parameter, the message.
RASAD_WHATSAPP_ALERT_TEMPLATES = env_list(
    "RASAD_WHATSAPP_ALERT_TEMPLATES", "en:rasad_area_alert,ar:rasad_area_alert,fa:rasad_area_alert")
# Telegram Bot API, and Bale, whose bot API has Telegram's shape on another address.
RASAD_TELEGRAM_BOT_TOKEN = _demo("RASAD_TELEGRAM_BOT_TOKEN", "123456:demo-telegram-token")
RASAD_TELEGRAM_SECRET_TOKEN = _demo("RASAD_TELEGRAM_SECRET_TOKEN", "demo-telegram-secret")
RASAD_TELEGRAM_API_URL = os.environ.get("RASAD_TELEGRAM_API_URL",
                                        f"{_PROVIDER}/telegram" if _PROVIDER
                                        else "https://api.telegram.org")
RASAD_BALE_BOT_TOKEN = _demo("RASAD_BALE_BOT_TOKEN", "654321:demo-bale-token")
RASAD_BALE_SECRET_TOKEN = _demo("RASAD_BALE_SECRET_TOKEN", "demo-bale-secret")
RASAD_BALE_API_URL = os.environ.get("RASAD_BALE_API_URL",
                                    f"{_PROVIDER}/bale" if _PROVIDER else "https://tapi.bale.ai")
# SMS through a Twilio-style provider (its Messages API and X-Twilio-Signature webhooks).
RASAD_SMS_ACCOUNT_SID = _demo("RASAD_SMS_ACCOUNT_SID", "ACdemo00000000000000000000000000")
RASAD_SMS_AUTH_TOKEN = _demo("RASAD_SMS_AUTH_TOKEN", "demo-sms-token")
RASAD_SMS_FROM = _demo("RASAD_SMS_FROM", "+358450000137")
RASAD_SMS_API_URL = os.environ.get("RASAD_SMS_API_URL", f"{_PROVIDER}/twilio" if _PROVIDER
                                   else "https://api.twilio.com")
# Facebook Messenger (Page messages and comments).
RASAD_MESSENGER_APP_SECRET = _demo("RASAD_MESSENGER_APP_SECRET", "demo-messenger-secret")
RASAD_MESSENGER_VERIFY_TOKEN = _demo("RASAD_MESSENGER_VERIFY_TOKEN", "demo-verify-token")
RASAD_MESSENGER_PAGE_TOKEN = _demo("RASAD_MESSENGER_PAGE_TOKEN", "demo-page-token")
RASAD_MESSENGER_API_URL = os.environ.get(
    "RASAD_MESSENGER_API_URL", f"{_PROVIDER}/v21.0" if _PROVIDER else "https://graph.facebook.com/v21.0")
# Email in: a relay POSTs the raw message (signed), or a beat task polls an IMAP mailbox.
RASAD_EMAIL_WEBHOOK_SECRET = _demo("RASAD_EMAIL_WEBHOOK_SECRET", "demo-email-secret")
RASAD_EMAIL_ADDRESS = os.environ.get("RASAD_EMAIL_ADDRESS", "reports@rasad.local")
RASAD_EMAIL_FLOOD_PER_HOUR = int(os.environ.get("RASAD_EMAIL_FLOOD_PER_HOUR", "10"))
RASAD_IMAP_HOST = os.environ.get("RASAD_IMAP_HOST", "")
RASAD_IMAP_PORT = int(os.environ.get("RASAD_IMAP_PORT", "993"))
RASAD_IMAP_SSL = env_bool("RASAD_IMAP_SSL", True)
RASAD_IMAP_USER = os.environ.get("RASAD_IMAP_USER", "")
RASAD_IMAP_PASSWORD = os.environ.get("RASAD_IMAP_PASSWORD", "")
RASAD_IMAP_FOLDER = os.environ.get("RASAD_IMAP_FOLDER", "INBOX")
RASAD_IMAP_EVERY_S = float(os.environ.get("RASAD_IMAP_EVERY_S", "60"))
# The dialogue: a conversation left this long is closed and what it gathered goes to the
# inbox; a message within RASAD_CHANNEL_REPLY_HOURS of a status message answers it.
RASAD_CONVERSATION_IDLE_MINUTES = int(os.environ.get("RASAD_CONVERSATION_IDLE_MINUTES", "720"))
RASAD_CHANNEL_REPLY_HOURS = int(os.environ.get("RASAD_CHANNEL_REPLY_HOURS", "72"))
# Abuse: messages a sender may send an hour before the rest are kept unanswered; the largest
# webhook body; the largest file fetched from a provider (photos have their own limit).
RASAD_CHANNEL_MESSAGES_PER_HOUR = int(os.environ.get("RASAD_CHANNEL_MESSAGES_PER_HOUR", "60"))
# (Meta's webhook bodies can reach 3 MB.)
RASAD_WEBHOOK_MAX_BYTES = int(os.environ.get("RASAD_WEBHOOK_MAX_BYTES", str(4 * 1024 * 1024)))
RASAD_EMAIL_MAX_BYTES = int(os.environ.get("RASAD_EMAIL_MAX_BYTES", str(25 * 1024 * 1024)))
RASAD_CHANNEL_MEDIA_MAX_BYTES = int(os.environ.get("RASAD_CHANNEL_MEDIA_MAX_BYTES",
                                                   str(16 * 1024 * 1024)))
RASAD_CHANNEL_HTTP_TIMEOUT_S = float(os.environ.get("RASAD_CHANNEL_HTTP_TIMEOUT_S", "10"))
