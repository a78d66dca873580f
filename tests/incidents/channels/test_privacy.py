"""Reporter phone numbers, channel ids and names never leave in public output."""

import pytest

from fixtures import channel_payloads as p
from incidents.models import Report
from tests.conftest import CENTRE
from tests.incidents.channels.conftest import WA_ID, whatsapp_say

pytestmark = pytest.mark.django_db


@pytest.fixture
def whatsapp_report(client, channel_city, fake_providers, street_light):
    whatsapp_say(client, p.wa_text(WA_ID, "Dark lamp"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))
    whatsapp_say(client, p.wa_location(WA_ID, CENTRE[1], CENTRE[0]))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "photo:skip", "No photo"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "confirm:yes", "Send it"))
    return Report.objects.get()


def _public_pages(api_client, report) -> list[bytes]:
    return [api_client.get(path).content for path in (
        f"/api/v1/incidents/{report.incident_id}/", f"/api/v1/track/{report.tracking_code}/",
        "/api/v1/incidents/", "/open311/v2/requests.json?extensions=true",
        "/open311/v2/requests.xml", f"/open311/v2/requests/{report.tracking_code}.json")]


def test_public_output_holds_no_number_channel_id_or_name(api_client, whatsapp_report):
    assert whatsapp_report.reporter_phone == f"+{WA_ID}"
    assert whatsapp_report.reporter_name == "Test Citizen"

    pages = _public_pages(api_client, whatsapp_report)

    assert all(page for page in pages)
    for page in pages:
        assert WA_ID.encode() not in page
        assert b"Test Citizen" not in page
