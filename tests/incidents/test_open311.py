import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from fixtures.factories import CategoryAttributeFactory, CategoryFactory, Open311ClientFactory
from incidents.models import (
    CategoryAttribute,
    Channel,
    Incident,
    IncidentUpdate,
    Photo,
    Report,
    Status,
)
from incidents.services import incident_merge, incident_note_add, incident_transition
from tests.conftest import CENTRE, jpeg_bytes, offset

pytestmark = pytest.mark.django_db

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
NAME, EMAIL, PHONE = "Leila Karimi-Secret", "leila.secret@example.org", "+358401234567"


# ---- helpers -------------------------------------------------------------------------------

@pytest.fixture
def area(city, district, district_east):
    return city


@pytest.fixture
def open311_client():
    return Open311ClientFactory(api_key="test-key-1")


def body(**fields) -> dict:
    data = {"api_key": "test-key-1", "service_code": "pothole", "lat": "60.17",
            "long": "24.93", "description": "Deep hole by the bus stop"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def post(client, data, fmt="json", **extra):
    return client.post(f"{BASE}/requests.{fmt}", urlencode(data, doseq=True),
                       content_type=FORM, **extra)


def xml_rows(response) -> list[dict]:
    """Each child of the root as {tag: text}; nested elements read as ""."""
    root = ET.fromstring(response.content)
    return [{child.tag: child.text or "" for child in item} for item in root]


def w3c(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def set_times(report: Report, *, created: datetime, updated: datetime | None = None) -> None:
    Report.objects.filter(pk=report.pk).update(created_at=created, updated_at=updated or created)


def ids(response) -> list[str]:
    return [row["service_request_id"] for row in response.json()]


# ---- discovery and services ----------------------------------------------------------------

def test_discovery_json_lists_this_endpoint(api_client):
    response = api_client.get(f"{BASE}/discovery.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "changeset": "2026-11-22T00:00:00+00:00",
        "contact": "Write to the city's Open311 administrator.",
        "key_service": "API keys for posting requests are issued by the city's Open311 "
                       "administrator.",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": "http://testserver/open311/v2/",
            "changeset": "2026-11-22T00:00:00+00:00",
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }


def test_discovery_xml_follows_the_spec_layout(api_client):
    response = api_client.get(f"{BASE}/discovery.xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == XML_DECLARATION + (
        "<discovery><changeset>2026-11-22T00:00:00+00:00</changeset>"
        "<contact>Write to the city's Open311 administrator.</contact>"
        "<key_service>API keys for posting requests are issued by the city's Open311 "
        "administrator.</key_service>"
        "<endpoints><endpoint><specification>http://wiki.open311.org/GeoReport_v2</specification>"
        "<url>http://testserver/open311/v2/</url>"
        "<changeset>2026-11-22T00:00:00+00:00</changeset><type>production</type>"
        "<formats><format>text/xml</format><format>application/json</format></formats>"
        "</endpoint></endpoints></discovery>"
    )


def test_services_json_lists_active_categories(api_client, category):
    category.description_en = "Holes in the road surface"
    category.keywords = "road,asphalt"
    category.save()
    CategoryAttributeFactory(category=category, code="depth")
    CategoryFactory(code="graffiti", group="cleaning", name_en="Graffiti")
    CategoryFactory(code="retired", active=False)

    response = api_client.get(f"{BASE}/services.json")

    assert response.status_code == 200
    assert response.json() == [
        {"service_code": "graffiti", "service_name": "Graffiti", "description": "",
         "metadata": False, "type": "realtime", "keywords": "", "group": "cleaning"},
        {"service_code": "pothole", "service_name": "Pothole",
         "description": "Holes in the road surface", "metadata": True, "type": "realtime",
         "keywords": "road,asphalt", "group": "roads"},
    ]


def test_services_xml_follows_the_spec_layout(api_client, category):
    response = api_client.get(f"{BASE}/services.xml")

    assert response.status_code == 200
    assert response.content.decode() == XML_DECLARATION + (
        "<services><service><service_code>pothole</service_code>"
        "<service_name>Pothole</service_name><description /><metadata>false</metadata>"
        "<type>realtime</type><keywords /><group>roads</group></service></services>"
    )


@pytest.mark.parametrize(("headers", "query", "name"), [
    ({"HTTP_ACCEPT_LANGUAGE": "ar"}, "", "حفرة"),
    ({"HTTP_ACCEPT_LANGUAGE": "fa"}, "", "چاله"),
    ({"HTTP_ACCEPT_LANGUAGE": "ar"}, "?locale=fa", "چاله"),
    ({}, "?locale=en", "Pothole"),
    ({}, "?locale=de", "Pothole"),
])
def test_service_names_follow_the_request_language(api_client, category, headers, query, name):
    response = api_client.get(f"{BASE}/services.json{query}", **headers)

    assert [s["service_name"] for s in response.json()] == [name]


@pytest.fixture
def attributes(category):
    depth = CategoryAttributeFactory(
        category=category, code="depth", datatype=CategoryAttribute.Datatype.NUMBER,
        required=True, order=1, description_en="How deep is the hole (cm)?",
        description_ar="ما عمق الحفرة؟", min_value=1, max_value=200)
    kinds = CategoryAttributeFactory(
        category=category, code="hazards", datatype=CategoryAttribute.Datatype.MULTI,
        order=2, description_en="What is near it?",
        values=[{"key": "school", "name_en": "A school", "name_ar": "مدرسة"},
                {"key": "bus", "name_en": "A bus stop"}])
    return depth, kinds


def test_service_definition_json_lists_attributes(api_client, attributes):
    response = api_client.get(f"{BASE}/services/pothole.json")

    assert response.status_code == 200
    assert response.json() == {
        "service_code": "pothole",
        "attributes": [
            {"variable": True, "code": "depth", "datatype": "number", "required": True,
             "datatype_description": "A number from 1 to 200.", "order": 1,
             "description": "How deep is the hole (cm)?", "values": []},
            {"variable": True, "code": "hazards", "datatype": "multivaluelist",
             "required": False,
             "datatype_description": "One or more keys of the values, as "
                                     "attribute[code][]=key repeated.",
             "order": 2, "description": "What is near it?",
             "values": [{"key": "school", "name": "A school"},
                        {"key": "bus", "name": "A bus stop"}]},
        ],
    }


def test_service_definition_json_is_translated(api_client, attributes):
    response = api_client.get(f"{BASE}/services/pothole.json?locale=ar")

    assert [(a["description"], [v["name"] for v in a["values"]])
            for a in response.json()["attributes"]] == [
        ("ما عمق الحفرة؟", []), ("What is near it?", ["مدرسة", "A bus stop"])]


def test_service_definition_xml_follows_the_spec_layout(api_client, attributes):
    response = api_client.get(f"{BASE}/services/pothole.xml")

    assert response.status_code == 200
    assert response.content.decode() == XML_DECLARATION + (
        "<service_definition><service_code>pothole</service_code><attributes>"
        "<attribute><variable>true</variable><code>depth</code><datatype>number</datatype>"
        "<required>true</required><datatype_description>A number from 1 to 200."
        "</datatype_description><order>1</order>"
        "<description>How deep is the hole (cm)?</description><values /></attribute>"
        "<attribute><variable>true</variable><code>hazards</code>"
        "<datatype>multivaluelist</datatype><required>false</required>"
        "<datatype_description>One or more keys of the values, as attribute[code][]=key "
        "repeated.</datatype_description><order>2</order>"
        "<description>What is near it?</description><values>"
        "<value><key>school</key><name>A school</name></value>"
        "<value><key>bus</key><name>A bus stop</name></value>"
        "</values></attribute></attributes></service_definition>"
    )


def test_unknown_service_definition_is_404_json(api_client, category):
    response = api_client.get(f"{BASE}/services/no-such-thing.json")

    assert response.status_code == 404
    assert response.json() == [{"code": 404,
                                "description": "“no-such-thing” is not a known service_code."}]


def test_unknown_service_definition_is_404_xml(api_client, category):
    response = api_client.get(f"{BASE}/services/no-such-thing.xml")

    assert response.status_code == 404
    assert response.content.decode() == XML_DECLARATION + (
        "<errors><error><code>404</code>"
        "<description>“no-such-thing” is not a known service_code.</description>"
        "</error></errors>")


@pytest.mark.parametrize(("method", "path"), [("delete", "requests.json"),
                                               ("post", "services.json")])
def test_unsupported_method_is_405_in_spec_format(api_client, category, method, path):
    response = getattr(api_client, method)(f"{BASE}/{path}")

    assert response.status_code == 405
    assert response.json() == [{"code": 405,
                                "description": f'Method "{method.upper()}" not allowed.'}]


def test_xml_drops_characters_xml_cannot_carry(api_client, category, make_report):
    report = make_report(category, description="Bell\x07 in the hole\x1b")

    response = api_client.get(f"{BASE}/requests/{report.tracking_code}.xml")

    assert xml_rows(response)[0]["description"] == "Bell in the hole"


def test_xml_answer_ignores_an_accept_header(api_client, category):
    response = api_client.get(f"{BASE}/services.json", HTTP_ACCEPT="text/xml")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"


# ---- POST requests -------------------------------------------------------------------------

def test_post_creates_report_and_returns_its_id_and_token(api_client, area, category,
                                                          open311_client):
    response = post(api_client, body(first_name="Leila", last_name="Karimi",
                                     email="leila@example.org", phone="+358 40 1234567",
                                     address_string="Mannerheimintie 1",
                                     account_id="acc-7", device_id="dev-1"))

    assert response.status_code == 201
    report = Report.objects.get()
    assert response.json() == [{"service_request_id": report.tracking_code,
                                "token": str(report.token), "service_notice": None,
                                "account_id": "acc-7"}]
    assert (report.category, report.channel, report.api_client, report.description,
            report.address, report.reporter_name, report.reporter_email,
            report.reporter_phone, report.client_ip, report.status) == (
        category, Channel.OPEN311, open311_client, "Deep hole by the bus stop",
        "Mannerheimintie 1", "Leila Karimi", "leila@example.org", "+358401234567",
        "127.0.0.1", Status.NEW)
    assert (report.location.x, report.location.y) == (24.93, 60.17)


def test_post_xml_answers_in_xml(api_client, area, category, open311_client):
    response = post(api_client, body(), fmt="xml")

    assert response.status_code == 201
    report = Report.objects.get()
    assert xml_rows(response) == [{"service_request_id": report.tracking_code,
                                   "token": str(report.token), "service_notice": "",
                                   "account_id": ""}]


def test_post_stores_attribute_answers_single_and_multi(api_client, area, attributes,
                                                        open311_client):
    data = body(**{"attribute[depth]": "12", "attribute[hazards][]": ["school", "bus"]})

    response = post(api_client, data)

    assert response.status_code == 201
    assert Report.objects.get().attributes == {"depth": 12.0, "hazards": ["bus", "school"]}


def test_post_repeated_attribute_without_brackets_is_a_list(api_client, area, attributes,
                                                            open311_client):
    data = body(**{"attribute[depth]": "12", "attribute[hazards]": ["school", "bus"]})

    response = post(api_client, data)

    assert response.status_code == 201
    assert Report.objects.get().attributes["hazards"] == ["bus", "school"]


def test_post_language_follows_accept_language(api_client, area, category, open311_client):
    response = post(api_client, body(), HTTP_ACCEPT_LANGUAGE="fa")

    assert response.status_code == 201
    assert Report.objects.get().language == "fa"


def test_post_media_url_queues_a_photo_fetch(api_client, area, category, open311_client):
    response = post(api_client, body(media_url="https://photos.example.org/hole.jpg"))

    assert response.status_code == 201
    photo = Photo.objects.get()
    assert (photo.report, photo.source_url, photo.state) == (
        Report.objects.get(), "https://photos.example.org/hole.jpg", Photo.State.PENDING)


def test_post_multipart_photo_is_served_as_absolute_media_url(api_client, area, category,
                                                              open311_client):
    data = body()
    data["media"] = SimpleUploadedFile("hole.jpg", jpeg_bytes(), content_type="image/jpeg")
    created = api_client.post(f"{BASE}/requests.json", data, format="multipart")
    code = created.json()[0]["service_request_id"]

    response = api_client.get(f"{BASE}/requests/{code}.json")

    photo = Photo.objects.get()
    assert photo.state == Photo.State.READY
    assert response.json()[0]["media_url"] == f"http://testserver{photo.image.url}"


def test_post_more_than_five_photos_is_400(api_client, area, category, open311_client):
    data = body()
    data["media"] = [SimpleUploadedFile(f"hole{i}.jpg", b"x", content_type="image/jpeg")
                     for i in range(6)]

    response = api_client.post(f"{BASE}/requests.json", data, format="multipart")

    assert response.status_code == 400
    assert response.json() == [{"code": 400,
                                "description": "A report can have at most 5 photos."}]
    assert Report.objects.count() == 0


@pytest.mark.parametrize(("api_key", "description"), [
    (None, "api_key is required to post a request."),
    ("", "api_key is required to post a request."),
    ("wrong-key", "A valid api_key is required to post a request."),
    ("inactive-key", "A valid api_key is required to post a request."),
])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_without_a_valid_api_key_is_403(api_client, area, category, open311_client,
                                             api_key, description, fmt):
    Open311ClientFactory(api_key="inactive-key", active=False)

    response = post(api_client, body(api_key=api_key), fmt=fmt)

    assert response.status_code == 403
    if fmt == "json":
        assert response.json() == [{"code": 403, "description": description}]
    else:
        assert xml_rows(response) == [{"code": "403", "description": description}]
    assert Report.objects.count() == 0


@pytest.mark.parametrize(("fields", "description"), [
    ({"service_code": "no-such-thing"}, "“no-such-thing” is not a known category."),
    ({"service_code": None}, "service_code is required."),
    ({"lat": None, "long": None},
     "The location is missing: send lat and long, or a photo with GPS."),
    ({"lat": None, "long": None, "address_string": "Mannerheimintie 1"},
     "The address alone cannot be placed on the map; send lat and long too."),
    ({"lat": "north"}, "lat must be a number."),
    ({"lat": "60.5", "long": "25.5"},
     "The point (25.50000, 60.50000) is outside the service area of Test City."),
    ({"email": "not-an-email"}, "“not-an-email” is not a valid email address."),
    ({"phone": "12345"}, "“12345” is not a valid phone number; write it with the country "
                         "code, like +358401234567."),
    ({"media_url": "ftp://photos.example.org/a.jpg"},
     "“ftp://photos.example.org/a.jpg” is not an http(s) URL."),
])
def test_post_refuses_bad_input_with_400(api_client, area, category, open311_client, fields,
                                         description):
    response = post(api_client, body(**fields))

    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": description}]
    assert Report.objects.count() == 0
    assert Incident.objects.count() == 0


def test_post_missing_required_attribute_is_400(api_client, area, attributes, open311_client):
    response = post(api_client, body(**{"attribute[hazards][]": "school"}))

    assert response.status_code == 400
    assert response.json() == [{"code": 400,
                                "description": "“How deep is the hole (cm)?” must be answered."}]
    assert Report.objects.count() == 0


def test_post_lists_every_broken_field(api_client, area, category, open311_client):
    response = post(api_client, body(email="nope", phone="12345"), fmt="xml")

    assert response.status_code == 400
    assert xml_rows(response) == [
        {"code": "400", "description": "“nope” is not a valid email address."},
        {"code": "400", "description": "“12345” is not a valid phone number; write it with "
                                       "the country code, like +358401234567."},
    ]
    assert Report.objects.count() == 0


def test_post_json_body_is_415(api_client, area, category, open311_client):
    response = api_client.post(f"{BASE}/requests.json", body(), format="json")

    assert response.status_code == 415
    assert response.json() == [{"code": 415,
                                "description": 'Unsupported media type "application/json" '
                                               'in request.'}]
    assert Report.objects.count() == 0


def test_post_retry_with_the_same_client_token_returns_the_same_request(
        api_client, area, category, open311_client):
    first = post(api_client, body(client_token="retry-1"))

    second = post(api_client, body(client_token="retry-1"))

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Report.objects.count() == 1


def test_post_retry_with_the_same_idempotency_header_returns_the_same_request(
        api_client, area, category, open311_client):
    first = post(api_client, body(), HTTP_IDEMPOTENCY_KEY="retry-2")

    second = post(api_client, body(), HTTP_IDEMPOTENCY_KEY="retry-2")

    assert (first.status_code, second.status_code) == (201, 200)
    assert ids(second) == ids(first)
    assert Report.objects.count() == 1


def test_post_reused_client_token_with_another_body_is_422(api_client, area, category,
                                                           open311_client):
    first = post(api_client, body(client_token="retry-3"))

    second = post(api_client, body(client_token="retry-3", description="Another hole"))

    assert first.status_code == 201
    assert second.status_code == 422
    assert second.json() == [{"code": 422, "description":
                              "This Idempotency-Key was already used for a different report. "
                              "Use a new key for a new report."}]
    assert Report.objects.count() == 1


def test_post_is_throttled_with_a_spec_error(api_client, area, category, open311_client,
                                             settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"submit": "1/minute"}}
    assert post(api_client, body()).status_code == 201

    response = post(api_client, body(description="Second"))

    assert response.status_code == 429
    wait = response["Retry-After"]
    assert response.json() == [{"code": 429,
                                "description": f"Too many requests; try again in {wait} seconds."}]
    assert Report.objects.count() == 1
    assert api_client.get(f"{BASE}/requests.json").status_code == 200


# ---- GET requests --------------------------------------------------------------------------

@pytest.fixture
def known_report(category, make_report):
    """A report with known times, address and description."""
    report = make_report(category, description="Deep hole", address="Mannerheimintie 1",
                         reporter_name=NAME, reporter_email=EMAIL, reporter_phone=PHONE)
    set_times(report, created=datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
              updated=datetime(2026, 3, 2, 9, 0, 0, 999, tzinfo=UTC))
    Incident.objects.filter(pk=report.incident_id).update(
        sla_due_at=datetime(2026, 3, 4, 8, 30, 15, 500, tzinfo=UTC))
    return Report.objects.get(pk=report.pk)


def expected_request(report: Report) -> dict:
    return {
        "service_request_id": report.tracking_code,
        "status": "open",
        "status_notes": "Reported",
        "service_name": "Pothole",
        "service_code": "pothole",
        "description": "Deep hole",
        "agency_responsible": "Roads",
        "service_notice": None,
        "requested_datetime": "2026-03-01T08:30:15+00:00",
        "updated_datetime": "2026-03-02T09:00:00+00:00",
        "expected_datetime": "2026-03-04T08:30:15+00:00",
        "address": "Mannerheimintie 1",
        "address_id": None,
        "zipcode": None,
        "lat": 60.17,
        "long": 24.93,
        "media_url": None,
    }


def test_get_request_by_id_json(api_client, known_report):
    response = api_client.get(f"{BASE}/requests/{known_report.tracking_code}.json")

    assert response.status_code == 200
    assert response.json() == [expected_request(known_report)]


def test_get_request_by_id_accepts_a_typed_code(api_client, known_report):
    typed = known_report.tracking_code.replace("-", "").lower()

    response = api_client.get(f"{BASE}/requests/{typed}.json")

    assert ids(response) == [known_report.tracking_code]


def test_get_request_by_id_xml(api_client, known_report):
    response = api_client.get(f"{BASE}/requests/{known_report.tracking_code}.xml")

    assert response.status_code == 200
    assert ET.fromstring(response.content).tag == "service_requests"
    expected = {key: "" if value is None else str(value)
                for key, value in expected_request(known_report).items()}
    assert xml_rows(response) == [expected]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_unknown_request_is_404(api_client, area, fmt):
    response = api_client.get(f"{BASE}/requests/ZZZZ-ZZZZ.{fmt}")

    assert response.status_code == 404
    description = "No service request has the id “ZZZZ-ZZZZ”."
    if fmt == "json":
        assert response.json() == [{"code": 404, "description": description}]
    else:
        assert xml_rows(response) == [{"code": "404", "description": description}]


def test_rejected_request_is_closed_with_the_reason_as_notes(api_client, category, make_report):
    report = make_report(category)
    incident_transition(incident=report.incident, to=Status.REJECTED,
                        note="Private parking lot, not a public road")

    response = api_client.get(f"{BASE}/requests/{report.tracking_code}.json?extensions=true")

    row = response.json()[0]
    assert (row["status"], row["status_notes"], row["extended_attributes"]) == (
        "closed", "Private parking lot, not a public road", {"detailed_status": "rejected"})


def test_status_notes_is_the_latest_public_note(api_client, category, make_report):
    report = make_report(category)
    incident_transition(incident=report.incident, to=Status.VERIFIED, note="Seen by inspector")
    incident_note_add(incident=report.incident, by=None, note="Internal only", public=False)

    response = api_client.get(f"{BASE}/requests/{report.tracking_code}.json")

    assert (response.json()[0]["status"], response.json()[0]["status_notes"]) == (
        "open", "Seen by inspector")


def test_request_names_follow_the_request_language(api_client, category, make_report):
    report = make_report(category)

    response = api_client.get(f"{BASE}/requests/{report.tracking_code}.json",
                              HTTP_ACCEPT_LANGUAGE="fa")

    row = response.json()[0]
    assert (row["service_name"], row["agency_responsible"]) == ("چاله", "بخش")
    assert response["Content-Language"] == "fa"


@pytest.fixture
def three_reports(category, make_report):
    """Newest first: `near` (300 m north), `far` (800 m north, closed), `centre`."""
    now = timezone.now()
    centre = make_report(category)
    far = make_report(category, *offset(*CENTRE, north_m=800))
    near = make_report(category, *offset(*CENTRE, north_m=300))
    incident_transition(incident=far.incident, to=Status.REJECTED, note="Duplicate of a call")
    for minutes, report in ((30, centre), (20, far), (10, near)):
        set_times(report, created=now - timedelta(minutes=minutes))
    return {"centre": centre.tracking_code, "far": far.tracking_code,
            "near": near.tracking_code}


def test_get_requests_lists_newest_first(api_client, three_reports):
    response = api_client.get(f"{BASE}/requests.json")

    assert response.status_code == 200
    assert ids(response) == [three_reports["near"], three_reports["far"],
                             three_reports["centre"]]


def test_get_requests_xml_uses_request_elements(api_client, three_reports):
    response = api_client.get(f"{BASE}/requests.xml")

    root = ET.fromstring(response.content)
    assert (root.tag, [item.tag for item in root]) == ("service_requests", ["request"] * 3)
    assert [row["service_request_id"] for row in xml_rows(response)] == [
        three_reports["near"], three_reports["far"], three_reports["centre"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("status=open", ["near", "centre"]),
    ("status=closed", ["far"]),
    ("status=open,closed", ["near", "far", "centre"]),
    ("service_code=pothole", ["near", "far", "centre"]),
    ("service_code=streetlight", []),
    ("service_code=streetlight,pothole", ["near", "far", "centre"]),
    ("lat=60.17&long=24.93", ["near", "centre"]),
    ("lat=60.17&long=24.93&radius=100", ["centre"]),
    ("lat=60.17&long=24.93&radius=1000", ["near", "far", "centre"]),
    ("page_size=2", ["near", "far"]),
    ("page_size=2&page=2", ["centre"]),
    ("page_size=2&page=3", []),
])
def test_get_requests_filters(api_client, three_reports, query, expected):
    response = api_client.get(f"{BASE}/requests.json?{query}")

    assert response.status_code == 200
    assert ids(response) == [three_reports[name] for name in expected]


def test_get_requests_filters_by_date_range(api_client, three_reports):
    now = timezone.now()
    query = urlencode({"start_date": w3c(now - timedelta(minutes=25)),
                       "end_date": w3c(now - timedelta(minutes=15))})

    response = api_client.get(f"{BASE}/requests.json?{query}")

    assert ids(response) == [three_reports["far"]]


def test_get_requests_by_ids_ignores_other_filters(api_client, three_reports):
    query = urlencode({"service_request_id": f"{three_reports['centre']},{three_reports['near']}",
                       "status": "closed", "service_code": "streetlight"})

    response = api_client.get(f"{BASE}/requests.json?{query}")

    assert ids(response) == [three_reports["near"], three_reports["centre"]]


def test_get_requests_defaults_to_the_last_90_days(api_client, category, make_report):
    now = timezone.now()
    recent = make_report(category)
    old = make_report(category, *offset(*CENTRE, north_m=500))
    set_times(recent, created=now - timedelta(days=89))
    set_times(old, created=now - timedelta(days=91))
    since = urlencode({"start_date": w3c(now - timedelta(days=100))})

    default = api_client.get(f"{BASE}/requests.json")
    wider = api_client.get(f"{BASE}/requests.json?{since}")

    assert ids(default) == [recent.tracking_code]
    assert ids(wider) == [recent.tracking_code, old.tracking_code]


@pytest.mark.parametrize(("query", "description"), [
    ("start_date=yesterday",
     "start_date “yesterday” is not a W3C date and time; write it like 2026-01-31T14:00:00Z."),
    ("end_date=2026-13-45T00:00:00Z",
     "end_date “2026-13-45T00:00:00Z” is not a W3C date and time; write it like "
     "2026-01-31T14:00:00Z."),
    ("start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
     "start_date must be before end_date."),
    ("status=pending", "status must be open, closed or both, comma separated."),
    ("page_size=1001", "page_size must be a whole number from 1 to 1000."),
    ("page_size=0", "page_size must be a whole number from 1 to 1000."),
    ("page=0", "page must be a whole number, 1 or more."),
    ("page=1.5", "page must be a whole number, 1 or more."),
    ("lat=60.17", "Searching by place needs both lat and long."),
    ("radius=100", "Searching by place needs both lat and long."),
    ("lat=60.17&long=24.93&radius=5001", "radius must be a number from 1 to 5000."),
    ("lat=north&long=24.93", "lat must be a number from -90 to 90."),
])
def test_get_requests_bad_parameters_are_400(api_client, three_reports, query, description):
    response = api_client.get(f"{BASE}/requests.json?{query}")

    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": description}]


def test_get_requests_bad_date_xml_is_400_in_xml(api_client, area):
    response = api_client.get(f"{BASE}/requests.xml?start_date=yesterday")

    assert response.status_code == 400
    assert xml_rows(response) == [{"code": "400", "description":
                                   "start_date “yesterday” is not a W3C date and time; write "
                                   "it like 2026-01-31T14:00:00Z."}]


@pytest.mark.parametrize("query", ["", "?extensions=true"])
def test_get_requests_runs_a_fixed_number_of_queries(api_client, three_reports,
                                                     django_assert_num_queries, query):
    with django_assert_num_queries(3):  # reports, their ready photos, their incidents' notes
        response = api_client.get(f"{BASE}/requests.json{query}")

    assert len(response.json()) == 3


# ---- tokens --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_token_gives_the_request_id(api_client, category, make_report, fmt):
    report = make_report(category)

    response = api_client.get(f"{BASE}/tokens/{report.token}.{fmt}")

    assert response.status_code == 200
    expected = {"service_request_id": report.tracking_code, "token": str(report.token)}
    if fmt == "json":
        assert response.json() == [expected]
    else:
        assert ET.fromstring(response.content).tag == "service_requests"
        assert xml_rows(response) == [expected]


@pytest.mark.parametrize("token", ["not-a-uuid", "8c4f0e1e-7a1b-4a4e-9a44-1a2b3c4d5e6f"])
def test_unknown_token_is_404(api_client, area, token):
    response = api_client.get(f"{BASE}/tokens/{token}.json")

    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "No service request has this token."}]


# ---- service request updates (extension) ---------------------------------------------------

@pytest.fixture
def worked_report(category, make_report):
    """A report whose incident went new → verified → (private) assigned → on_site →
    resolved, with one public and one internal note."""
    report = make_report(category)
    incident = report.incident
    incident_transition(incident=incident, to=Status.VERIFIED)
    incident_note_add(incident=incident, by=None, note="Crew comes on Monday", public=True)
    incident_note_add(incident=incident, by=None, note="Internal: budget code 12", public=False)
    incident_transition(incident=incident, to=Status.ASSIGNED, public=False)
    incident_transition(incident=incident, to=Status.ON_SITE)
    incident_transition(incident=incident, to=Status.RESOLVED, note="Filled with asphalt")
    start = datetime(2026, 3, 1, 8, 0, 0, 250, tzinfo=UTC)
    for i, update in enumerate(IncidentUpdate.objects.filter(incident=incident).order_by("pk")):
        IncidentUpdate.objects.filter(pk=update.pk).update(created_at=start + timedelta(hours=i))
    return report


def expected_updates(report: Report) -> list[dict]:
    public = list(IncidentUpdate.objects.filter(incident=report.incident_id, public=True)
                  .order_by("pk").values_list("pk", flat=True))
    rows = [("open", "Reported", "08:00", "new"),
            ("open", "verified", "09:00", "verified"),
            ("open", "Crew comes on Monday", "10:00", "verified"),
            ("open", "on site", "13:00", "on_site"),
            ("closed", "Filled with asphalt", "14:00", "resolved")]
    return [{"update_id": str(pk), "service_request_id": report.tracking_code, "status": status,
             "description": description, "updated_datetime": f"2026-03-01T{time}:00+00:00",
             "media_url": None, "detailed_status": detailed}
            for pk, (status, description, time, detailed) in zip(public, rows, strict=True)]


@pytest.mark.parametrize("path", ["requests/{id}/updates.json",
                                  "servicerequestupdates.json?service_request_id={id}"])
def test_updates_list_public_changes_and_notes(api_client, worked_report, path):
    response = api_client.get(f"{BASE}/" + path.format(id=worked_report.tracking_code))

    assert response.status_code == 200
    assert response.json() == expected_updates(worked_report)


def test_updates_xml_uses_request_update_elements(api_client, worked_report):
    response = api_client.get(f"{BASE}/requests/{worked_report.tracking_code}/updates.xml")

    assert ET.fromstring(response.content).tag == "service_requests_updates"
    assert xml_rows(response) == [
        {key: "" if value is None else value for key, value in row.items()}
        for row in expected_updates(worked_report)]


def test_updates_without_an_id_is_400(api_client, area):
    response = api_client.get(f"{BASE}/servicerequestupdates.json")

    assert response.status_code == 400
    assert response.json() == [{"code": 400, "description": "service_request_id is required."}]


def test_updates_of_unknown_request_is_404(api_client, area):
    response = api_client.get(f"{BASE}/requests/ZZZZ-ZZZZ/updates.xml")

    assert response.status_code == 404
    assert xml_rows(response) == [{"code": "404",
                                   "description": "No service request has the id “ZZZZ-ZZZZ”."}]


# ---- duplicates (extension) ----------------------------------------------------------------

def test_merged_report_is_a_duplicate_of_the_first_report(api_client, category, make_report):
    first = make_report(category)
    second = make_report(category, *offset(*CENTRE, north_m=500))
    set_times(second, created=first.created_at + timedelta(minutes=5))
    incident_merge(source=second.incident, target=first.incident)

    response = api_client.get(f"{BASE}/requests.json?extensions=true")

    assert [(r["service_request_id"], r["extended_attributes"]) for r in response.json()] == [
        (second.tracking_code, {"detailed_status": "new", "duplicate": first.tracking_code,
                                "parent_service_request_id": first.tracking_code}),
        (first.tracking_code, {"detailed_status": "new"}),
    ]


def test_joined_report_is_a_duplicate_in_xml(api_client, category, make_report):
    first = make_report(category)
    second = make_report(category, *offset(*CENTRE, east_m=10))

    response = api_client.get(f"{BASE}/requests/{second.tracking_code}.xml?extensions=true")

    extended = ET.fromstring(response.content).find("request/extended_attributes")
    assert {child.tag: child.text for child in extended} == {
        "detailed_status": "new", "duplicate": first.tracking_code,
        "parent_service_request_id": first.tracking_code}


def test_extensions_are_left_out_unless_asked(api_client, category, make_report):
    make_report(category)
    make_report(category, *offset(*CENTRE, east_m=10))

    response = api_client.get(f"{BASE}/requests.json")

    assert [("extended_attributes" in row) for row in response.json()] == [False, False]


# ---- privacy -------------------------------------------------------------------------------

def test_no_get_answer_reveals_the_reporter(api_client, area, category, open311_client):
    created = post(api_client, body(first_name="Leila", last_name="Karimi-Secret",
                                    email=EMAIL, phone=PHONE))
    code, token = created.json()[0]["service_request_id"], created.json()[0]["token"]
    report = Report.objects.get()
    assert (report.reporter_name, report.reporter_email, report.reporter_phone) == (
        NAME, EMAIL, PHONE)
    incident_transition(incident=report.incident, to=Status.VERIFIED)
    paths = ["requests", "requests?extensions=true", f"requests/{code}",
             f"requests/{code}?extensions=true", f"requests/{code}/updates",
             f"servicerequestupdates?service_request_id={code}", f"tokens/{token}",
             "services", "services/pothole", "discovery"]

    bodies = []
    for path in paths:
        for fmt in ("json", "xml"):
            resource, _, query = path.partition("?")
            response = api_client.get(f"{BASE}/{resource}.{fmt}?{query}")
            assert response.status_code == 200
            bodies.append(response.content.decode())

    leaks = [(secret, text) for text in bodies
             for secret in (NAME, "Leila", "Karimi", EMAIL, PHONE, "401234567")
             if secret in text]
    assert leaks == []
