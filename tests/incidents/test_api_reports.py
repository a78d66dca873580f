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


@pytest.mark.parametrize("with_photo", [False, True])
def test_report_output_is_the_generic_geojson_feature(rf, category, district, make_report,
                                                      with_photo):
    from rest_framework_gis.serializers import GeoFeatureModelSerializer

    from incidents.api.serializers import ReportPublicOutput
    from tests.conftest import jpeg_bytes

    photos = [("a.jpg", jpeg_bytes())] if with_photo else []
    filed = make_report(category, CENTRE[0] + 0.000123456789, CENTRE[1], description="Hole",
                        address="Mannerheimintie 1", photos=photos)
    report = Report.objects.get(pk=filed.pk)
    context = {"request": rf.get("/")}

    written_out = ReportPublicOutput(report, context=context).data
    generic = GeoFeatureModelSerializer.to_representation(
        ReportPublicOutput(report, context=context), report)

    assert written_out["geometry"]["coordinates"] == pytest.approx(
        generic["geometry"]["coordinates"], abs=1e-9)
    assert {**written_out, "geometry": None} == {**generic, "geometry": None}
    assert len(written_out["properties"]["photos"]) == len(photos)
