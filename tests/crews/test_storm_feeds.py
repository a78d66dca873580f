"""The storm alert feeds: CAP 1.2 messages valid against OASIS's schema (vendored in
tests/crews/data), and the Atom feed that links them. Coarse areas, no citizen text."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from lxml import etree

from crews.models import EmergencyMode
from crews.services.storm import emergency_mode_cancel, emergency_mode_start
from fixtures.factories import CategoryFactory
from incidents.services import ReportInput, report_submit
from ops.roles import Role
from tests.conftest import CENTRE, user_with_role

pytestmark = pytest.mark.django_db

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "data" / "CAP-v1.2.xsd")))


@pytest.fixture
def storm(city, district, department):
    CategoryFactory(code="snow", department=department, name_en="Snow on the road",
                    name_ar="ثلج على الطريق", name_fa="برف در جاده")
    CategoryFactory(code="graffiti", department=department, name_en="Graffiti")
    manager = user_with_role(Role.MANAGER, username="manager-cap", email="boss@example.org")
    return emergency_mode_start(
        area=city, hazard="snow_storm", ends_at=timezone.now() + timedelta(hours=6),
        category_codes=["snow"], paused_codes=["graffiti"],
        messages={"en": "Snow storm until tonight.", "ar": "عاصفة ثلجية حتى الليل.",
                  "fa": "کولاک تا امشب."},
        pause_messages={"en": "Graffiti reports wait."}, by=manager)


def _valid(body: bytes) -> etree._Element:
    document = etree.fromstring(body)
    SCHEMA.assertValid(document)
    return document


def test_the_cap_message_of_an_active_mode_is_valid_cap_1_2(client, storm):
    response = client.get("/alerts/cap.xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/cap+xml"
    alert = _valid(response.content)
    assert alert.findtext(f"{CAP}identifier") == f"127.0.0.1-storm-{storm.pk}"
    assert alert.findtext(f"{CAP}sender") == "rasad@127.0.0.1"
    assert alert.findtext(f"{CAP}status") == "Actual"
    assert alert.findtext(f"{CAP}msgType") == "Alert"
    assert alert.findtext(f"{CAP}scope") == "Public"
    infos = alert.findall(f"{CAP}info")
    assert [i.findtext(f"{CAP}language") for i in infos] == ["ar", "fa", "en"]
    english = infos[2]
    assert english.findtext(f"{CAP}category") == "Met"
    assert english.findtext(f"{CAP}event") == "snow storm"
    assert english.findtext(f"{CAP}urgency") == "Immediate"
    assert english.findtext(f"{CAP}severity") == "Severe"
    assert english.findtext(f"{CAP}certainty") == "Observed"
    assert english.findtext(f"{CAP}description") == "Snow storm until tonight."
    assert english.findtext(f"{CAP}instruction") == (
        "Report these problems first: Snow on the road. Graffiti reports wait.")
    assert infos[1].findtext(f"{CAP}description") == "کولاک تا امشب."
    with translation.override("ar"):
        first = gettext("Report these problems first: %(categories)s.") % {
            "categories": "ثلج على الطريق"}
    assert first != "Report these problems first: ثلج على الطريق."  # in Arabic
    assert infos[0].findtext(f"{CAP}instruction").startswith(first)


def test_the_cap_area_is_a_coarse_closed_polygon_of_the_service_area(client, storm, city):
    alert = _valid(client.get("/alerts/cap.xml").content)

    area = alert.findall(f"{CAP}info")[-1].find(f"{CAP}area")
    assert area.findtext(f"{CAP}areaDesc") == city.name_en
    pairs = area.findtext(f"{CAP}polygon").split(" ")
    assert pairs[0] == pairs[-1]
    assert 4 <= len(pairs) <= 20
    lat, lon = map(float, pairs[0].split(","))
    xmin, ymin, xmax, ymax = city.boundary.extent
    assert ymin - 0.02 <= lat <= ymax + 0.02
    assert xmin - 0.02 <= lon <= xmax + 0.02


def test_the_feeds_carry_no_citizen_text_or_personal_data(client, storm):
    report_submit(data=ReportInput(
        category_code="snow", lon=CENTRE[0], lat=CENTRE[1], description="Secret driveway text",
        reporter_name="Leila Private", reporter_email="leila@example.org",
        reporter_phone="+358401234567"))

    bodies = (client.get("/alerts/cap.xml").content.decode()
              + client.get("/alerts/feed.atom").content.decode())

    for private in ("Secret driveway", "Leila", "leila@example.org", "+358401234567",
                    "manager-cap", "boss@example.org"):
        assert private not in bodies


def test_a_cancelled_mode_is_published_as_a_cancel_referencing_the_alert(client, storm):
    alert_sent = _valid(client.get("/alerts/cap.xml").content).findtext(f"{CAP}sent")
    emergency_mode_cancel(mode=storm)

    alert = _valid(client.get("/alerts/cap.xml").content)

    assert alert.findtext(f"{CAP}msgType") == "Cancel"
    assert alert.findtext(f"{CAP}identifier") == f"127.0.0.1-storm-{storm.pk}-cancel"
    sender, identifier, sent = alert.findtext(f"{CAP}references").split(",")
    assert (sender, identifier) == ("rasad@127.0.0.1", f"127.0.0.1-storm-{storm.pk}")
    assert sent == alert_sent
    assert alert.findtext(f"{CAP}info/{CAP}urgency") == "Past"
    assert alert.findtext(f"{CAP}info/{CAP}responseType") == "AllClear"


def test_a_mode_past_its_end_time_is_published_as_over(client, storm):
    EmergencyMode.objects.filter(pk=storm.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(minutes=1))

    alert = _valid(client.get("/alerts/cap.xml").content)

    assert alert.findtext(f"{CAP}msgType") == "Cancel"


def test_the_atom_feed_links_each_modes_cap_message(client, storm):
    response = client.get("/alerts/feed.atom", HTTP_ACCEPT_LANGUAGE="fa")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = etree.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id")
    assert feed.findtext(f"{ATOM}updated")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].findtext(f"{ATOM}summary") == "کولاک تا امشب."
    link = entries[0].find(f"{ATOM}link")
    assert link.get("type") == "application/cap+xml"
    assert link.get("href") == f"http://testserver/alerts/cap/{storm.pk}.xml"
    linked = client.get(f"/alerts/cap/{storm.pk}.xml")
    assert _valid(linked.content).findtext(f"{CAP}msgType") == "Alert"


def test_without_any_mode_there_is_no_cap_message_and_an_empty_feed(client, city):
    assert client.get("/alerts/cap.xml").status_code == 404
    feed = etree.fromstring(client.get("/alerts/feed.atom").content)
    assert feed.findall(f"{ATOM}entry") == []


def test_an_invalid_message_would_fail_the_schema(storm):
    from crews.cap import cap_document

    alert = etree.fromstring(cap_document(storm))
    alert.find(f"{CAP}status").text = "Real"

    assert not SCHEMA.validate(alert)


def test_a_mode_changed_after_it_was_issued_is_published_as_an_update(client, storm):
    EmergencyMode.objects.filter(pk=storm.pk).update(
        message_en="Snow storm until tomorrow.", updated_at=storm.created_at + timedelta(minutes=5))

    alert = _valid(client.get("/alerts/cap.xml").content)

    assert alert.findtext(f"{CAP}msgType") == "Update"
    assert alert.findtext(f"{CAP}identifier") != f"127.0.0.1-storm-{storm.pk}"
    assert alert.findtext(f"{CAP}references").split(",")[1] == f"127.0.0.1-storm-{storm.pk}"
    assert alert.findall(f"{CAP}info")[-1].findtext(f"{CAP}description") == (
        "Snow storm until tomorrow.")
