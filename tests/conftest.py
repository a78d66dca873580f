"""Common fixtures. Everything runs against the real PostGIS and Redis."""

import io
import uuid
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.gis.geos import Point
from django.utils import translation
from PIL import Image
from rest_framework.test import APIClient

from fixtures.factories import (
    CategoryFactory,
    DepartmentFactory,
    DistrictFactory,
    ServiceAreaFactory,
    UserFactory,
    box,
)
from incidents.services import ReportInput, report_submit
from ops.celery import app as celery_app
from ops.roles import Role

# Known coordinates inside the test city (see fixtures.factories.CITY_BOUNDS).
CENTRE = (24.9300, 60.1700)


def offset(lon: float, lat: float, *, east_m: float = 0, north_m: float = 0) -> tuple:
    """A point `east_m` / `north_m` metres away (good to a few cm at these distances)."""
    import math

    return (lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 111_320)


@pytest.fixture(autouse=True)
def _default_language_after():
    """A request in Persian or Arabic leaves its language active in the thread (Django's
    LocaleMiddleware activates and never resets); the next test starts in the default."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings):
    """Each test gets fresh throttle counters without flushing the Redis database that other
    test processes share."""
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "KEY_PREFIX": f"rasad-test-{uuid.uuid4().hex}"}}


@pytest.fixture
def city():
    return ServiceAreaFactory()


@pytest.fixture
def district(city):
    return DistrictFactory(area=city, code="west", name_en="West", name_ar="الغرب",
                           name_fa="غرب", boundary=box(24.92, 60.16, 24.94, 60.18))


@pytest.fixture
def district_east(city):
    return DistrictFactory(area=city, code="east", name_en="East",
                           boundary=box(24.94, 60.16, 24.96, 60.18))


@pytest.fixture
def department():
    return DepartmentFactory(code="roads", name_en="Roads")


@pytest.fixture
def category(department):
    return CategoryFactory(code="pothole", department=department, name_en="Pothole",
                           name_ar="حفرة", name_fa="چاله", cluster_radius_m=30)


@pytest.fixture
def make_report(city, district, district_east):
    def _make(category, lon=CENTRE[0], lat=CENTRE[1], **fields):
        data = ReportInput(category_code=category.code, lon=lon, lat=lat, **fields)
        return report_submit(data=data).report

    return _make


def user_with_role(role: str | None, username: str | None = None, **fields):
    return UserFactory(username=username or f"{role or 'plain'}-user", role=role, **fields)


@pytest.fixture
def dispatcher(department):
    user = user_with_role(Role.DISPATCHER, is_staff=True)
    user.departments.add(department)
    return user


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def dispatcher_client(dispatcher):
    client = APIClient()
    client.force_authenticate(dispatcher)
    return client


@pytest.fixture
def agent():
    """An intake agent (hotline, service centre, inbox, meetings)."""
    return user_with_role(Role.INTAKE_AGENT, is_staff=True)


@pytest.fixture
def agent_client(agent):
    client = APIClient()
    client.force_authenticate(agent)
    return client


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    if exif is not None:
        image.save(out, format="JPEG", exif=exif)
    else:
        image.save(out, format="JPEG")
    return out.getvalue()


def point(lon: float, lat: float) -> Point:
    return Point(lon, lat, srid=4326)


@pytest.fixture
def celery_queue():
    """Route tasks sent during the test to a queue of their own, deleted afterwards.

    Nothing reaches the shared `celery` queue, so no message outlives the test.
    """
    queue = f"rasad-test-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = previous
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)


@pytest.fixture
def celery_worker(celery_queue):
    """A real worker thread consuming only the test's queue; stopped before the queue goes."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[celery_queue],
                      shutdown_timeout=30) as worker:
        yield worker


@pytest.fixture
def fake_providers(settings):
    """The messaging providers' APIs on 127.0.0.1 (fixtures.fake_providers), with the
    settings pointing at them; what was sent is in `.sent`."""
    from fixtures.fake_providers import FakeProviders

    fake = FakeProviders().start()
    settings.RASAD_WHATSAPP_API_URL = f"{fake.url}/v21.0"
    settings.RASAD_MESSENGER_API_URL = f"{fake.url}/v21.0"
    settings.RASAD_TELEGRAM_API_URL = f"{fake.url}/telegram"
    settings.RASAD_BALE_API_URL = f"{fake.url}/bale"
    settings.RASAD_SMS_API_URL = f"{fake.url}/twilio"
    settings.RASAD_MEDIA_FETCH_ALLOW_PRIVATE = True
    yield fake
    fake.stop()


def street_names_osm(path: Path) -> Path:
    """Three named streets over the test city: two crossing at (24.9300, 60.1700), one
    with Arabic and Persian names."""
    nodes = {1: (60.1650, 24.9300), 2: (60.1700, 24.9300), 3: (60.1750, 24.9300),
             4: (60.1700, 24.9250), 5: (60.1700, 24.9350), 6: (60.1720, 24.9450),
             7: (60.1720, 24.9550)}
    ways = [(1, [1, 2, 3], {"name": "Mannerheimintie", "name:sv": "Mannerheimvägen"}),
            (2, [4, 2, 5], {"name": "Simonkatu"}),
            (3, [6, 7], {"name": "Palm Street", "name:ar": "شارع النخيل",
                         "name:fa": "خیابان نخل"})]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    lines += [f'<node id="{n}" version="1" lat="{lat}" lon="{lon}"/>'
              for n, (lat, lon) in nodes.items()]
    for way_id, refs, tags in ways:
        lines.append(f'<way id="{way_id}" version="1">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines.append('<tag k="highway" v="residential"/>')
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def streets(tmp_path):
    from gis.roads import roads_import

    return roads_import(path=street_names_osm(tmp_path / "streets.osm"))
