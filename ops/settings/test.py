"""Test settings: the real PostGIS and Redis, with what tests need changed."""

import os

os.environ.setdefault("RASAD_SUBMIT_RATE", "10000/minute")

from ops.settings.base import *  # noqa: F403
from ops.settings.base import BASE_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PRIVATE_MEDIA_ROOT = BASE_DIR / "var" / "test-private"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "private": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": PRIVATE_MEDIA_ROOT, "base_url": "/private-media/"}},
}
CACHES = {
    "default": {
        "BACKEND": "ops.redis_cache.RedisCache",  # shares connections: see the module
        "LOCATION": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "KEY_PREFIX": "rasad-test",
    }
}
# The broker in its own Redis database, purged at the start of a run (tests/conftest.py).
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
# The browser tests' server sends its tasks to a queue of its own (tests/map_ui/conftest.py):
# a test worker then takes that server's tasks and no other test process's.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TEST_CELERY_QUEUE", "celery")
# Browser tests load static files straight from the apps (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests change categories between requests: read them fresh every time.
RASAD_CATALOGUE_CACHE_S = 0
RASAD_GEOCODE_INDEX_CHECK_S = 0
# Live events of a test run stay in that run: its own group prefix, not a dev server's.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": os.environ.get("TEST_REDIS_URL",
                                                          "redis://127.0.0.1:6379/15"),
                              "socket_timeout": None}],
                   "prefix": os.environ.get("TEST_CHANNEL_PREFIX", f"rasad-test-{os.getpid()}")},
    }
}
# Every channel on, with test secrets; the providers' APIs point at a closed port unless a
# test starts the fake providers (tests/conftest.py `fake_providers`).
RASAD_WHATSAPP_APP_SECRET = "test-whatsapp-secret"
RASAD_WHATSAPP_VERIFY_TOKEN = "test-verify-token"
RASAD_WHATSAPP_ACCESS_TOKEN = "demo-whatsapp-token"
RASAD_WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
RASAD_WHATSAPP_API_URL = "http://127.0.0.1:9/v21.0"
RASAD_TELEGRAM_BOT_TOKEN = "123456:demo-telegram-token"
RASAD_TELEGRAM_SECRET_TOKEN = "test-telegram-secret"
RASAD_TELEGRAM_API_URL = "http://127.0.0.1:9/telegram"
RASAD_BALE_BOT_TOKEN = "654321:demo-bale-token"
RASAD_BALE_SECRET_TOKEN = "test-bale-secret"
RASAD_BALE_API_URL = "http://127.0.0.1:9/bale"
RASAD_SMS_ACCOUNT_SID = "ACdemo00000000000000000000000000"
RASAD_SMS_AUTH_TOKEN = "demo-sms-token"
RASAD_SMS_FROM = "+358450000137"
RASAD_SMS_API_URL = "http://127.0.0.1:9/twilio"
RASAD_MESSENGER_APP_SECRET = "test-messenger-secret"
RASAD_MESSENGER_VERIFY_TOKEN = "test-verify-token"
RASAD_MESSENGER_PAGE_TOKEN = "demo-page-token"
RASAD_MESSENGER_API_URL = "http://127.0.0.1:9/v21.0"
RASAD_EMAIL_WEBHOOK_SECRET = "test-email-secret"
RASAD_CHANNEL_HTTP_TIMEOUT_S = 5.0
