"""Open311 media_url photos: incidents.services.media.photo_fetch and the tasks that run it.

A local HTTP server on 127.0.0.1 stands in for the remote photo host. Tests marked `worker`
run a real Celery worker thread against the real Redis broker, on a queue of their own.
"""

import io
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone
from PIL import Image

from incidents.models import Photo
from incidents.services import ReportInput, photo_fetch, report_submit
from incidents.services.media import MediaTemporarilyUnavailable
from incidents.tasks import photo_fetch_sweep_task
from tests.conftest import CENTRE, jpeg_bytes

JFIF_ONLY = {"jfif", "jfif_version", "jfif_unit", "jfif_density"}
WAIT_S = 15.0


def camera_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x8825] = {1: "N", 2: (60.0, 10.0, 12.0), 3: "E", 4: (24.0, 55.0, 48.0)}  # GPS
    return jpeg_bytes(size=(64, 48), exif=exif)


class PhotoHost:
    """A photo host on 127.0.0.1: fixed answers per path, and a count of requests per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits[self.path] += 1
                status, content_type, body, headers = host.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, str, bytes, dict]:
        if path == "/photo.jpg":
            return 200, "image/jpeg", camera_jpeg(), {}
        if path == "/flaky.jpg" and self.hits[path] <= 2:
            return 503, "text/plain", b"busy", {}
        if path == "/flaky.jpg":
            return 200, "image/jpeg", camera_jpeg(), {}
        if path == "/down.jpg":
            return 503, "text/plain", b"busy", {}
        if path == "/page.html":
            return 200, "text/html", b"<html><script>alert(1)</script></html>", {}
        if path == "/loop.jpg":
            return 302, "text/plain", b"", {"Location": self.url("/loop.jpg")}
        return 404, "text/plain", b"not found", {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"


@pytest.fixture
def photo_host():
    host = PhotoHost()
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()
    host.thread.join(5)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    # The photo host is on loopback, which photo_fetch refuses by default.
    settings.RASAD_MEDIA_FETCH_ALLOW_PRIVATE = True




def settled(photo_id: int) -> Photo:
    """The photo once the worker is done with it (or still pending after WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    photo = Photo.objects.get(pk=photo_id)
    while photo.state == Photo.State.PENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        photo = Photo.objects.get(pk=photo_id)
    return photo


def submit_with_link(category, url: str) -> Photo:
    report = report_submit(data=ReportInput(category_code=category.code, lon=CENTRE[0],
                                            lat=CENTRE[1], media_urls=[url])).report
    return Photo.objects.get(report=report)


def stored(field) -> Image.Image:
    with field.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


# Through a real worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_fetches_media_url_and_stores_it_without_exif(city, district, category,
                                                             photo_host, celery_worker):
    photo = submit_with_link(category, photo_host.url("/photo.jpg"))

    photo = settled(photo.pk)

    assert (photo.state, photo.error, photo.attempts) == (Photo.State.READY, "", 1)
    assert (photo.width, photo.height) == (64, 48)
    image, thumbnail = stored(photo.image), stored(photo.thumbnail)
    assert (image.format, image.size, dict(image.getexif())) == ("JPEG", (64, 48), {})
    assert set(image.info) == set(thumbnail.info) == JFIF_ONLY
    with photo.image.open("rb") as handle:
        assert b"Exif" not in handle.read()
    assert photo_host.hits == Counter({"/photo.jpg": 1})


@pytest.mark.parametrize(
    ("path", "error"),
    [
        pytest.param("/missing.jpg", "The photo link answered HTTP 404.", id="404"),
        pytest.param("/page.html", "The file “{url}” is not a photo we can read "
                     "(JPEG, PNG, WebP or GIF).", id="not-an-image"),
    ],
)
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_marks_unusable_media_url_failed_without_retrying(city, district, category,
                                                                 photo_host, celery_worker,
                                                                 path, error):
    url = photo_host.url(path)
    photo = submit_with_link(category, url)

    photo = settled(photo.pk)

    assert (photo.state, photo.error, photo.attempts) == (
        Photo.State.FAILED, error.format(url=url), 1)
    assert (photo.image.name, photo.thumbnail.name) == ("", "")
    assert photo_host.hits == Counter({path: 1})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_retries_media_url_that_answers_503_until_it_works(city, district, category,
                                                                  photo_host, celery_worker):
    # retry_backoff=True waits up to 1 s, then up to 2 s: well inside WAIT_S.
    photo = submit_with_link(category, photo_host.url("/flaky.jpg"))

    photo = settled(photo.pk)

    assert (photo.state, photo.error, photo.attempts) == (Photo.State.READY, "", 3)
    assert stored(photo.image).size == (64, 48)
    assert photo_host.hits == Counter({"/flaky.jpg": 3})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_sweep_requeues_photos_pending_for_over_two_minutes(category, make_report, photo_host,
                                                            celery_worker):
    report = make_report(category)
    url = photo_host.url("/photo.jpg")
    lost = Photo.objects.create(report=report, source_url=url, state=Photo.State.PENDING)
    recent = Photo.objects.create(report=report, source_url=url, state=Photo.State.PENDING)
    exhausted = Photo.objects.create(report=report, source_url=url, state=Photo.State.PENDING,
                                     attempts=5)
    now = timezone.now()
    Photo.objects.filter(pk__in=[lost.pk, exhausted.pk]).update(
        updated_at=now - timedelta(minutes=3))
    Photo.objects.filter(pk=recent.pk).update(updated_at=now - timedelta(seconds=90))

    queued = photo_fetch_sweep_task()

    assert queued == 1
    lost = settled(lost.pk)
    assert (lost.state, lost.attempts) == (Photo.State.READY, 1)
    assert photo_host.hits == Counter({"/photo.jpg": 1})
    recent.refresh_from_db()
    exhausted.refresh_from_db()
    assert (recent.state, recent.attempts) == (Photo.State.PENDING, 0)
    assert (exhausted.state, exhausted.error, exhausted.attempts) == (
        Photo.State.FAILED, "The photo could not be fetched.", 5)


# photo_fetch called directly


@pytest.mark.django_db
def test_fetching_a_ready_photo_again_changes_nothing(city, district, category, photo_host):
    photo = submit_with_link(category, photo_host.url("/photo.jpg"))
    first = photo_fetch(photo_id=photo.pk)

    second = photo_fetch(photo_id=photo.pk)

    assert first.state == second.state == Photo.State.READY
    assert (second.image.name, second.thumbnail.name) == (first.image.name, first.thumbnail.name)
    assert Photo.objects.get(pk=photo.pk).attempts == 1
    assert photo_host.hits == Counter({"/photo.jpg": 1})


@pytest.mark.django_db
def test_failed_attempt_counts_and_keeps_the_photo_out_of_the_sweep(
        city, district, category, photo_host, celery_queue):
    photo = submit_with_link(category, photo_host.url("/flaky.jpg"))
    Photo.objects.filter(pk=photo.pk).update(updated_at=timezone.now() - timedelta(minutes=3))

    with pytest.raises(MediaTemporarilyUnavailable):
        photo_fetch(photo_id=photo.pk)

    photo.refresh_from_db()
    assert (photo.state, photo.attempts) == (Photo.State.PENDING, 1)
    assert photo_fetch_sweep_task() == 0


@pytest.mark.django_db
def test_last_failed_attempt_marks_the_photo_failed(city, district, category, photo_host):
    photo = submit_with_link(category, photo_host.url("/down.jpg"))
    Photo.objects.filter(pk=photo.pk).update(attempts=4)

    photo = photo_fetch(photo_id=photo.pk)

    assert (photo.state, photo.error, photo.attempts) == (
        Photo.State.FAILED, "The photo link did not answer.", 5)
    assert (photo.image.name, photo.thumbnail.name) == ("", "")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        pytest.param("/loop.jpg", "The photo link cannot be downloaded.", id="redirect-loop"),
        pytest.param("/photo.jpg", "The photo at the link is larger than the limit.",
                     id="too-large"),
    ],
)
@pytest.mark.django_db
def test_media_url_that_cannot_work_fails_at_once(city, district, category, photo_host,
                                                  settings, path, error):
    settings.RASAD_PHOTO_MAX_BYTES = 500
    photo = submit_with_link(category, photo_host.url(path))

    photo = photo_fetch(photo_id=photo.pk)

    assert (photo.state, photo.error, photo.attempts) == (Photo.State.FAILED, error, 1)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:{port}/photo.jpg", id="loopback"),
        pytest.param("http://localhost:{port}/photo.jpg", id="localhost-name"),
        pytest.param("http://[::ffff:127.0.0.1]:{port}/photo.jpg", id="ipv4-mapped-ipv6"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
        pytest.param("http://10.1.2.3/photo.jpg", id="rfc1918"),
    ],
)
@pytest.mark.django_db
def test_media_url_on_a_private_network_is_never_fetched(city, district, category, photo_host,
                                                         settings, url):
    settings.RASAD_MEDIA_FETCH_ALLOW_PRIVATE = False
    photo = submit_with_link(category, url.format(port=photo_host.server.server_port))

    photo = photo_fetch(photo_id=photo.pk)

    assert (photo.state, photo.error) == (
        Photo.State.FAILED, "The photo link points to a private network address.")
    assert photo_host.hits == Counter()
