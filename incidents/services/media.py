"""Fetching Open311 `media_url` photos, in a worker, with the same checks as uploads."""

import ipaddress
import logging
import socket
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.exceptions import PhotoRejected
from incidents.models import Photo
from incidents.photos import photo_clean

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_REDIRECTS = 3


class MediaTemporarilyUnavailable(Exception):
    """The remote server did not answer or answered 5xx: worth another try later."""


class _PrivateAddress(Exception):
    pass


def _public_address(host: str, port: int) -> str:
    """Resolve `host` once and return an address on the public internet.

    Every address the name resolves to must be public: a media_url must never reach the
    server's own network (loopback, RFC 1918, link-local cloud metadata, …).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        addresses.append(address)
    if not addresses or not all(a.is_global for a in addresses):
        raise _PrivateAddress(host)
    return str(addresses[0])


class _PublicOnlyTransport(httpx.HTTPTransport):
    """Connects to the address that was checked, so DNS cannot answer differently later.

    Each redirect hop comes through here too. The Host header is already set from the URL
    and TLS checks the certificate against `sni_hostname`, the original name.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # Until ops/settings/base.py defines it, a missing setting means "public only".
        if not getattr(settings, "RASAD_MEDIA_FETCH_ALLOW_PRIVATE", False):
            host = request.url.host
            address = _public_address(host, request.url.port or
                                      (443 if request.url.scheme == "https" else 80))
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)


def media_download(url: str, *, limit: int | None = None, headers: dict | None = None,
                   auth: tuple[str, str] | None = None, public_only: bool = True,
                   too_large: str | None = None) -> tuple[bytes, str]:
    """GET a file of at most `limit` bytes; returns (content, content type).

    `public_only` (for URLs that came from outside: Open311 media_url, links in provider
    payloads) refuses private addresses unless RASAD_MEDIA_FETCH_ALLOW_PRIVATE; a provider's
    own configured API address is trusted. Raises PhotoRejected when retrying cannot help,
    MediaTemporarilyUnavailable when it can."""
    limit = limit or settings.RASAD_PHOTO_MAX_BYTES
    timeout = settings.RASAD_MEDIA_FETCH_TIMEOUT_S
    # httpx's timeout bounds each read; the deadline bounds a server that drips bytes.
    deadline = time.monotonic() + 3 * timeout
    too_large = too_large or _("The photo at the link is larger than the limit.")
    try:
        # No keep-alive: connections are pooled by address, and a redirect to another name
        # on the same address must not reuse a TLS session checked for the first name.
        limits = httpx.Limits(max_keepalive_connections=0)
        transport = (_PublicOnlyTransport(limits=limits) if public_only
                     else httpx.HTTPTransport(limits=limits))
        with httpx.Client(transport=transport, timeout=timeout, headers=headers, auth=auth,
                          follow_redirects=True, max_redirects=MAX_REDIRECTS,
                          trust_env=False) as client, client.stream("GET", url) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise MediaTemporarilyUnavailable(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise PhotoRejected(_("The photo link answered HTTP %(code)s.")
                                    % {"code": response.status_code})
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise PhotoRejected(too_large)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PhotoRejected(too_large)
                if time.monotonic() > deadline:
                    raise MediaTemporarilyUnavailable("the download was too slow")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("content-type", "")
    except _PrivateAddress as exc:
        raise PhotoRejected(_("The photo link points to a private network address.")) from exc
    except (httpx.UnsupportedProtocol, httpx.TooManyRedirects, httpx.DecodingError,
            httpx.InvalidURL) as exc:
        # Retrying cannot help: a redirect to ftp://, a redirect loop, a bad encoding.
        raise PhotoRejected(_("The photo link cannot be downloaded.")) from exc
    except httpx.TransportError as exc:
        raise MediaTemporarilyUnavailable(str(exc)) from exc


def photo_fetch(*, photo_id: int) -> Photo:
    """Download, check and store one pending photo. Idempotent: a ready photo is left alone.

    Raises MediaTemporarilyUnavailable for the caller to retry, unless this was the last of
    MAX_ATTEMPTS: then, as on a permanent failure, the photo is marked failed with the reason.
    Every attempt bumps `updated_at`, so the sweep leaves photos that are being retried alone.
    """
    started = Photo.objects.filter(pk=photo_id, state=Photo.State.PENDING).update(
        attempts=F("attempts") + 1, updated_at=timezone.now())
    photo = Photo.objects.select_related("report").get(pk=photo_id)
    if not started:
        return photo
    try:
        clean = photo_clean(media_download(photo.source_url)[0], name=photo.source_url[-60:])
    except PhotoRejected as exc:
        return _photo_fail(photo_id, exc.message)
    except MediaTemporarilyUnavailable:
        if photo.attempts >= MAX_ATTEMPTS:
            logger.info("photo %s failed after %s attempts", photo_id, photo.attempts,
                        exc_info=True)
            return _photo_fail(photo_id, _("The photo link did not answer."))
        raise
    with transaction.atomic():
        # No select_related: the report side is nullable, and FOR UPDATE refuses outer joins.
        locked = Photo.objects.select_for_update().get(pk=photo_id)
        if locked.state != Photo.State.PENDING:
            return locked
        locked.image.save("photo.jpg", ContentFile(clean.image), save=False)
        locked.thumbnail.save("thumb.jpg", ContentFile(clean.thumbnail), save=False)
        locked.width, locked.height = clean.width, clean.height
        locked.state = Photo.State.READY
        locked.error = ""
        locked.save(update_fields=["image", "thumbnail", "width", "height", "state", "error",
                                   "updated_at"])
    return locked


def _photo_fail(photo_id: int, reason: str) -> Photo:
    Photo.objects.filter(pk=photo_id, state=Photo.State.PENDING).update(
        state=Photo.State.FAILED, error=reason[:300], updated_at=timezone.now())
    return Photo.objects.select_related("report").get(pk=photo_id)


def photos_fetch_stale(*, older_than: timedelta = timedelta(minutes=2), limit: int = 500
                       ) -> list[int]:
    """Photos still pending after `older_than`, to fetch again: a lost message delays, never
    loses. Those that used up MAX_ATTEMPTS (the worker died mid-fetch, say) are marked failed
    instead of waiting forever.

    photo_fetch bumps `updated_at` on every attempt, so a photo waiting for a retry is left
    alone.
    """
    stale = Photo.objects.filter(state=Photo.State.PENDING,
                                 updated_at__lt=timezone.now() - older_than)
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        state=Photo.State.FAILED, error=_("The photo could not be fetched."),
        updated_at=timezone.now())
    return list(stale.filter(attempts__lt=MAX_ATTEMPTS).order_by("updated_at")
                .values_list("pk", flat=True)[:limit])
