"""The providers' webhooks: /channels/<provider>/webhook.

Order matters: the body's size is checked before it is read, the signature before it is
parsed, and the messages are stored before anything else is done with them. The answer
then goes at once; the dialogue runs in a worker."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from incidents.channels.base import PayloadInvalid, SignatureInvalid
from incidents.channels.ingest import parsed_store
from incidents.channels.providers import provider_get

logger = logging.getLogger(__name__)


def _error(detail: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


@csrf_exempt
def channel_webhook(request: HttpRequest, provider: str, path_secret: str = "") -> HttpResponse:
    adapter = provider_get(provider)
    if adapter is None or not adapter.enabled:
        return _error(_("There is no “%(name)s” channel here.") % {"name": provider},
                      "unknown_channel", 404)
    if request.method == "GET":
        return adapter.handshake(request)
    if request.method != "POST":
        return _error(_("This webhook takes POST only."), "method_not_allowed", 405)
    limit = adapter.max_body_bytes
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_large = _("The body is larger than %(n)s bytes, the most this webhook takes.") % {
        "n": limit}
    if declared > limit:
        return _error(too_large, "too_large", 413)
    body = request.read(limit + 1)  # bounded even when the length was not declared
    if len(body) > limit:
        return _error(too_large, "too_large", 413)
    try:
        adapter.verify(request, body)
    except SignatureInvalid as exc:
        logger.warning("%s webhook: bad signature from %s", provider,
                       request.META.get("REMOTE_ADDR"))
        return _error(str(exc), "signature_invalid", 403)
    try:
        parsed = adapter.parse(request, body)
    except PayloadInvalid as exc:
        return _error(str(exc), "invalid", 400)
    parsed_store(adapter.name, parsed)
    return adapter.accepted()
