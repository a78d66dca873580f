"""ASGI entry point: websockets through Channels, HTTP through Django's WSGI handler on a
thread pool.

Django runs sync views under ASGI one at a time per process (thread-sensitive sync_to_async),
which caps a 2-core server at a few dozen requests a second; a2wsgi runs them on a pool of
threads instead, each keeping its own database connection."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ops.settings.base")
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from map_ui.routing import websocket_urlpatterns  # noqa: E402

HTTP_THREADS = int(os.environ.get("RASAD_HTTP_THREADS", "16"))

application = ProtocolTypeRouter(
    {
        "http": WSGIMiddleware(django_wsgi_app, workers=HTTP_THREADS),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
