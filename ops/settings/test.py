"""Test settings: the real PostGIS and Redis, with what tests need changed."""

import os

os.environ.setdefault("RASAD_SUBMIT_RATE", "10000/minute")

from ops.settings.base import *  # noqa: F403
from ops.settings.base import BASE_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
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
# Browser tests load static files straight from the apps (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests change categories between requests: read them fresh every time.
RASAD_CATALOGUE_CACHE_S = 0
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
