import pytest

from incidents.models import Report
from tests.conftest import CENTRE

pytestmark = pytest.mark.django_db


def test_post_report_returns_tracking_code_and_incident(api_client, category, district):
    response = api_client.post("/api/v1/reports/", {
        "category": "pothole", "lon": CENTRE[0], "lat": CENTRE[1],
        "description": "Deep hole", "email": "a@example.org"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    report = Report.objects.get()
    assert body["properties"]["tracking_code"] == report.tracking_code
    assert body["properties"]["district"] == "west"
    assert "email" not in response.content.decode()
    assert "a@example.org" not in response.content.decode()
