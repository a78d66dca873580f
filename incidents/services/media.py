"""Fetching Open311 `media_url` photos, in a worker, with the same checks as uploads."""

import logging

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from incidents.exceptions import PhotoRejected
from incidents.models import Photo
from incidents.photos import photo_clean

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class MediaTemporarilyUnavailable(Exception):
    """The remote server did not answer or answered 5xx: worth another try later."""


def _download(url: str) -> bytes:
    limit = settings.RASAD_PHOTO_MAX_BYTES
    try:
        with httpx.stream("GET", url, timeout=settings.RASAD_MEDIA_FETCH_TIMEOUT_S,
                          follow_redirects=True, max_redirects=3) as response:
            if response.status_code >= 500:
                raise MediaTemporarilyUnavailable(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise PhotoRejected(_("The photo link answered HTTP %(code)s.")
                                    % {"code": response.status_code})
            declared = int(response.headers.get("content-length") or 0)
            if declared > limit:
                raise PhotoRejected(_("The photo at the link is larger than the limit."))
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PhotoRejected(_("The photo at the link is larger than the limit."))
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TransportError as exc:
        raise MediaTemporarilyUnavailable(str(exc)) from exc


def photo_fetch(*, photo_id: int) -> Photo:
    """Download, check and store one pending photo. Idempotent: a ready photo is left alone.

    Raises MediaTemporarilyUnavailable for the caller to retry; a permanent failure marks
    the photo failed with the reason.
    """
    photo = Photo.objects.select_related("report").get(pk=photo_id)
    if photo.state != Photo.State.PENDING:
        return photo
    Photo.objects.filter(pk=photo_id).update(attempts=photo.attempts + 1)
    try:
        clean = photo_clean(_download(photo.source_url), name=photo.source_url[-60:])
    except PhotoRejected as exc:
        Photo.objects.filter(pk=photo_id, state=Photo.State.PENDING).update(
            state=Photo.State.FAILED, error=exc.message[:300])
        photo.refresh_from_db()
        return photo
    except MediaTemporarilyUnavailable:
        if photo.attempts + 1 >= MAX_ATTEMPTS:
            Photo.objects.filter(pk=photo_id, state=Photo.State.PENDING).update(
                state=Photo.State.FAILED, error="the photo link did not answer")
        raise
    with transaction.atomic():
        locked = Photo.objects.select_for_update().select_related("report").get(pk=photo_id)
        if locked.state != Photo.State.PENDING:
            return locked
        locked.image.save("photo.jpg", ContentFile(clean.image), save=False)
        locked.thumbnail.save("thumb.jpg", ContentFile(clean.thumbnail), save=False)
        locked.width, locked.height = clean.width, clean.height
        locked.state = Photo.State.READY
        locked.error = ""
        locked.save()
    return locked
