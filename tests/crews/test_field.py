"""The crew phone: today's plan, stop actions replayed from an offline queue, stale updates."""

import pytest

from crews.models import CrewAction, RouteStop
from incidents.models import Incident, IncidentUpdate, Photo, Status
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.django_db


def act(client, incident, action, client_id, **data):
    return client.post(f"/api/v1/crew/stops/{incident.pk}/{action}/",
                       {"client_id": client_id, **data}, format="json")


def test_today_lists_the_crews_stops_in_order_with_a_navigate_link(crew_client, planned):
    _plan, incidents = planned

    response = crew_client.get("/api/v1/crew/today/")

    assert response.status_code == 200
    body = response.json()
    assert body["crew"]["code"] == "road-1"
    assert [s["incident"]["id"] for s in body["plan"]["stops"]] == [i.pk for i in incidents]
    first = body["plan"]["stops"][0]
    lon, lat = first["incident"]["location"]["coordinates"]
    assert first["navigate"] == f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}"


def test_full_stop_flow_moves_incident_and_stop(crew_client, planned):
    _plan, incidents = planned
    incident = incidents[0]

    en_route = act(crew_client, incident, "en_route", "c-1", version=incident.version)
    on_site = act(crew_client, incident, "on_site", "c-2",
                  version=en_route.json()["incident"]["version"])
    resolved = crew_client.post(
        f"/api/v1/crew/stops/{incident.pk}/resolved/",
        {"client_id": "c-3", "version": on_site.json()["incident"]["version"],
         "note": "Patched", "after_photos": [_upload()]}, format="multipart")

    assert [r.status_code for r in (en_route, on_site, resolved)] == [200, 200, 200]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert RouteStop.objects.get(incident=incident).state == RouteStop.State.DONE
    assert list(IncidentUpdate.objects.filter(incident=incident).exclude(to_status="")
                .values_list("to_status", flat=True))[-3:] == ["en_route", "on_site", "resolved"]
    assert Photo.objects.get(update__incident=incident).kind == "after"


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("after.jpg", jpeg_bytes(), content_type="image/jpeg")


def test_resolving_a_pothole_without_an_after_photo_is_refused(crew_client, planned, category):
    category.photo_required_to_resolve = True
    category.save()
    _plan, incidents = planned
    incident = incidents[0]
    act(crew_client, incident, "on_site", "c-1")

    response = act(crew_client, incident, "resolved", "c-2")

    assert response.status_code == 400
    assert response.json()["errors"]["photos"] == [
        "A photo of the finished work is required to resolve a Pothole."]
    assert Incident.objects.get(pk=incident.pk).status == Status.ON_SITE


def test_offline_queue_replayed_twice_does_everything_once(crew_client, planned):
    _plan, incidents = planned
    incident = incidents[0]
    queue = [("en_route", "q-1"), ("on_site", "q-2"), ("note", "q-3"), ("resolved", "q-4")]

    first = [act(crew_client, incident, a, cid, note="n").status_code for a, cid in queue]
    updates_after_first = IncidentUpdate.objects.filter(incident=incident).count()
    second = [act(crew_client, incident, a, cid, note="n") for a, cid in queue]

    assert first == [200, 200, 200, 200]
    assert [r.status_code for r in second] == [200, 200, 200, 200]
    assert [r["Idempotent-Replayed"] for r in second] == ["true"] * 4
    assert IncidentUpdate.objects.filter(incident=incident).count() == updates_after_first
    assert CrewAction.objects.count() == 4
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_stale_update_is_refused_with_the_current_state(crew_client, planned, dispatcher):
    from incidents.services import incident_transition

    _plan, incidents = planned
    incident = incidents[0]
    seen_version = incident.version
    # Meanwhile a dispatcher took it back to verified.
    incident_transition(incident=incident, to=Status.VERIFIED, by=dispatcher)
    current = Incident.objects.get(pk=incident.pk)

    response = act(crew_client, incident, "en_route", "s-1", version=seen_version)

    assert response.status_code == 409
    assert response.json()["incident"] == {"id": incident.pk, "status": "verified",
                                           "version": current.version}
    assert Incident.objects.get(pk=incident.pk).version == current.version


def test_replayed_stale_update_gets_the_same_refusal(crew_client, planned, dispatcher):
    from incidents.services import incident_transition

    _plan, incidents = planned
    incident = incidents[0]
    stale = incident.version
    incident_transition(incident=incident, to=Status.VERIFIED, by=dispatcher)

    first = act(crew_client, incident, "en_route", "s-1", version=stale)
    second = act(crew_client, incident, "en_route", "s-1", version=stale)

    assert (first.status_code, second.status_code) == (409, 409)
    assert first.json() == second.json()


def test_cannot_fix_needs_a_reason_and_returns_the_incident_to_dispatch(crew_client, planned):
    _plan, incidents = planned
    incident = incidents[0]
    act(crew_client, incident, "on_site", "c-1")

    refused = act(crew_client, incident, "cannot_fix", "c-2")
    accepted = act(crew_client, incident, "cannot_fix", "c-3", note="Needs a bigger truck")

    assert refused.status_code == 400
    assert accepted.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.VERIFIED
    assert RouteStop.objects.get(incident=incident).state == RouteStop.State.RETURNED


def test_client_id_reused_for_another_incident_is_refused(crew_client, planned):
    _plan, incidents = planned
    act(crew_client, incidents[0], "en_route", "dup-1")

    response = act(crew_client, incidents[1], "en_route", "dup-1")

    assert response.status_code == 409
    assert Incident.objects.get(pk=incidents[1].pk).status == Status.ASSIGNED


def test_an_incident_not_on_my_route_is_not_found(crew_client, planned, category, make_report):
    other = make_report(category, 24.955, 60.175).incident

    response = act(crew_client, other, "en_route", "x-1")

    assert response.status_code == 404
    assert CrewAction.objects.count() == 0


@pytest.mark.parametrize("role", [None, "citizen", "dispatcher"])
def test_only_crew_members_use_the_phone_api(api_client, planned, role):
    from tests.conftest import user_with_role

    if role:
        api_client.force_authenticate(user_with_role(role, username=f"u-{role}"))

    response = api_client.get("/api/v1/crew/today/")

    assert response.status_code == 403
