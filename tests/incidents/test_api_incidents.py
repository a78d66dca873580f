"""REST API for incidents: the map layer, detail, tracking, nearby, "me too", and the
dispatcher's transition / merge / split endpoints."""

from datetime import UTC, datetime

import pytest

from fixtures.factories import CategoryFactory
from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.services import incident_note_add, incident_transition
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role
from tests.incidents.test_workflow import ILLEGAL_PAIRS, LEGAL

pytestmark = pytest.mark.django_db

S = Status
LIST = "/api/v1/incidents/"
NEARBY = "/api/v1/incidents/nearby/"


def _ids(response) -> list[int]:
    return [feature["id"] for feature in response.json()["features"]]


def _set_status(incident_id: int, status: str) -> None:
    Incident.objects.filter(pk=incident_id).update(status=status)
    Report.objects.filter(incident_id=incident_id).update(status=status)


def _state() -> list:
    """Everything a refused request must leave as it was."""
    return [list(Incident.objects.order_by("pk").values_list(
                "pk", "status", "version", "report_count", "merged_into")),
            list(Report.objects.order_by("pk").values_list("pk", "incident", "status")),
            IncidentUpdate.objects.count()]


def _incident(make_report, category, *, east_m: float = 0, north_m: float = 0) -> Incident:
    report = make_report(category, *offset(*CENTRE, east_m=east_m, north_m=north_m))
    return Incident.objects.get(pk=report.incident_id)


# --- the list (map layer) ----------------------------------------------------------------

def test_list_is_a_geojson_feature_collection(api_client, category, make_report):
    incident = _incident(make_report, category)

    response = api_client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert (body["type"], body["count"], body["next"], body["previous"]) == (
        "FeatureCollection", 1, None, None)
    feature = body["features"][0]
    assert (feature["type"], feature["id"], feature["geometry"]["type"]) == (
        "Feature", incident.pk, "Point")
    assert feature["geometry"]["coordinates"] == pytest.approx(list(CENTRE), abs=1e-9)
    assert {k: feature["properties"][k] for k in ("category", "category_name", "status",
                                                   "report_count", "district")} == {
        "category": "pothole", "category_name": "Pothole", "status": "new", "report_count": 1,
        "district": "west"}


def test_list_filters_by_bbox(api_client, category, make_report):
    inside = _incident(make_report, category)
    _incident(make_report, category, north_m=500)
    lon, lat = CENTRE

    response = api_client.get(LIST, {"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},"
                                             f"{lat + 0.001}"})

    assert response.status_code == 200
    assert _ids(response) == [inside.pk]


@pytest.mark.parametrize(("bbox", "found"), [
    ("-180,-90,180,90", True),
    ("-170,-80,170,80", True),  # wider than 180°: still this side of the world
    ("0,50,50,60.16", False),  # its top edge is the parallel 60.16, not a great circle
    ("24.92,60.17,24.94,60.18", True),  # on the edge counts
])
def test_bbox_is_a_lon_lat_rectangle(api_client, category, make_report, bbox, found):
    incident = _incident(make_report, category)

    response = api_client.get(LIST, {"bbox": bbox})

    assert response.status_code == 200
    assert _ids(response) == [incident.pk] * found


def test_list_filters_by_category(api_client, category, make_report):
    lights = CategoryFactory(code="streetlight", department=category.department)
    _incident(make_report, category)
    light = _incident(make_report, lights)

    response = api_client.get(LIST, {"category": "streetlight"})

    assert _ids(response) == [light.pk]


@pytest.mark.parametrize(("query", "expected"), [
    ("new", ["new"]),
    ("closed", ["closed"]),
    ("closed,rejected", ["closed", "rejected"]),
    ("open", ["assigned", "new", "reopened"]),
    ("open,closed", ["assigned", "closed", "new", "reopened"]),
])
def test_list_filters_by_status(api_client, category, make_report, query, expected):
    for i, status in enumerate([S.NEW, S.ASSIGNED, S.REOPENED, S.CLOSED, S.REJECTED, S.MERGED]):
        _set_status(_incident(make_report, category, north_m=100 * i).pk, status)

    response = api_client.get(LIST, {"status": query})

    assert sorted(f["properties"]["status"] for f in response.json()["features"]) == expected


def test_list_filters_by_district(api_client, category, make_report):
    _incident(make_report, category)
    east = Incident.objects.get(pk=make_report(category, 24.95, 60.17).incident_id)

    response = api_client.get(LIST, {"district": "east"})

    assert _ids(response) == [east.pk]
    assert response.json()["features"][0]["properties"]["district"] == "east"


def test_list_filters_by_created_after_and_before(api_client, category, make_report):
    days = [_incident(make_report, category, north_m=100 * i) for i in range(3)]
    for day, incident in zip([1, 2, 3], days, strict=True):
        Incident.objects.filter(pk=incident.pk).update(
            first_reported_at=datetime(2026, 1, day, 12, tzinfo=UTC))

    response = api_client.get(LIST, {"created_after": "2026-01-02T00:00:00Z",
                                     "created_before": "2026-01-02T23:59:59Z"})

    assert _ids(response) == [days[1].pk]


def test_list_pages_with_page_size(api_client, category, make_report):
    for i in range(5):
        _incident(make_report, category, north_m=100 * i)

    first = api_client.get(LIST, {"page_size": 2})
    last = api_client.get(LIST, {"page_size": 2, "page": 3})

    assert (first.json()["count"], len(first.json()["features"])) == (5, 2)
    assert first.json()["next"] == "http://testserver/api/v1/incidents/?page=2&page_size=2"
    assert (len(last.json()["features"]), last.json()["next"]) == (1, None)


@pytest.mark.parametrize(("params", "detail"), [
    ({"bbox": "1,2,3"}, "bbox: bbox must be four numbers: min_lon,min_lat,max_lon,max_lat."),
    ({"bbox": "a,b,c,d"}, "bbox: bbox must be four numbers: min_lon,min_lat,max_lon,max_lat."),
    ({"bbox": "24.96,60.16,24.92,60.18"},
     "bbox: bbox must be min_lon,min_lat,max_lon,max_lat within -180..180 and -90..90."),
    ({"bbox": "24.9,60.1,24.9,95"},
     "bbox: bbox must be min_lon,min_lat,max_lon,max_lat within -180..180 and -90..90."),
    ({"created_after": "yesterday"},
     "created_after: Datetime has wrong format. Use one of these formats instead: "
     "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."),
    ({"created_before": "2026-13-45"},
     "created_before: Datetime has wrong format. Use one of these formats instead: "
     "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."),
    ({"status": "open,done"},
     "status: Unknown status done; use: open, new, verified, assigned, en_route, on_site, "
     "resolved, closed, rejected, merged, reopened, referred."),
])
def test_list_bad_filter_is_400_with_a_readable_detail(api_client, params, detail):
    response = api_client.get(LIST, params)

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("n", [1, 10])
def test_list_runs_a_fixed_number_of_queries(api_client, category, make_report, n,
                                             django_assert_num_queries):
    for i in range(n):
        _incident(make_report, category, north_m=100 * i)

    with django_assert_num_queries(2):  # count + one page with its joins
        response = api_client.get(LIST)

    assert len(response.json()["features"]) == n


@pytest.mark.parametrize("n", [1, 10])
def test_nearby_runs_a_fixed_number_of_queries(api_client, category, make_report, n,
                                               django_assert_num_queries):
    for i in range(n):
        _incident(make_report, category, north_m=40 * i)
    # A process reads the SRID's details once (GeoDjango caches them): not per request.
    api_client.get(NEARBY, {"category": "pothole", "lon": CENTRE[0], "lat": CENTRE[1]})

    with django_assert_num_queries(3):  # category, its attributes, incidents with joins
        response = api_client.get(NEARBY, {"category": "pothole", "lon": CENTRE[0],
                                           "lat": CENTRE[1], "radius": 500})

    assert len(response.json()["features"]) == n


@pytest.mark.parametrize("n", [1, 5])
def test_detail_runs_a_fixed_number_of_queries(api_client, category, make_report, n,
                                               django_assert_num_queries):
    reports = [make_report(category, *offset(*CENTRE, east_m=2 * i)) for i in range(n)]

    with django_assert_num_queries(4):  # incident, public timeline, reports, their photos
        response = api_client.get(f"{LIST}{reports[0].incident_id}/")

    assert len(response.json()["properties"]["reports"]) == n


# --- detail --------------------------------------------------------------------------------

@pytest.fixture
def incident_with_history(category, make_report, dispatcher):
    incident = _incident(make_report, category)
    incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher, note="Seen it")
    incident_note_add(incident=incident, by=dispatcher, note="Call the contractor", public=False)
    incident_note_add(incident=incident, by=dispatcher, note="Crew is coming", public=True)
    return incident


@pytest.mark.parametrize("make_user", [lambda: None, lambda: user_with_role(Role.CITIZEN)],
                         ids=["anonymous", "citizen"])
def test_detail_for_the_public_shows_only_the_public_timeline(api_client, incident_with_history,
                                                              make_user):
    api_client.force_authenticate(make_user())

    response = api_client.get(f"{LIST}{incident_with_history.pk}/")

    assert response.status_code == 200
    timeline = response.json()["properties"]["timeline"]
    assert [(e["from_status"], e["to_status"], e["note"]) for e in timeline] == [
        ("", "new", "Reported"), ("new", "verified", "Seen it"), ("", "", "Crew is coming")]
    assert {tuple(sorted(e)) for e in timeline} == {
        ("created_at", "from_status", "note", "to_status")}
    assert "Call the contractor" not in response.content.decode()
    assert "dispatcher-user" not in response.content.decode()


def test_detail_for_staff_shows_the_full_timeline(dispatcher_client, incident_with_history):
    response = dispatcher_client.get(f"{LIST}{incident_with_history.pk}/")

    timeline = response.json()["properties"]["timeline"]
    assert [(e["to_status"], e["note"], e["public"], e["by"]) for e in timeline] == [
        ("new", "Reported", True, None),
        ("verified", "Seen it", True, "dispatcher-user"),
        ("", "Call the contractor", False, "dispatcher-user"),
        ("", "Crew is coming", True, "dispatcher-user")]


def test_detail_lists_reports_and_allowed_transitions(api_client, incident_with_history):
    report = Report.objects.get(incident=incident_with_history)

    response = api_client.get(f"{LIST}{incident_with_history.pk}/")

    properties = response.json()["properties"]
    assert [r["properties"]["tracking_code"] for r in properties["reports"]] == [
        report.tracking_code]
    assert properties["allowed_transitions"] == ["assigned", "rejected", "referred"]


def test_detail_of_unknown_incident_is_404(api_client):
    response = api_client.get(f"{LIST}987654/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


# --- tracking ------------------------------------------------------------------------------

def test_track_returns_status_and_public_timeline(api_client, incident_with_history):
    report = Report.objects.get(incident=incident_with_history)

    response = api_client.get(f"/api/v1/track/{report.tracking_code}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["tracking_code"], body["status"], body["incident"]["id"]) == (
        report.tracking_code, "verified", incident_with_history.pk)
    assert [e["note"] for e in body["timeline"]] == ["Reported", "Seen it", "Crew is coming"]
    assert "Call the contractor" not in response.content.decode()


@pytest.mark.parametrize("typed", [str.lower, lambda c: c.replace("-", ""),
                                   lambda c: f" {c.lower()[:4]} {c.lower()[5:]}"])
def test_track_code_is_case_and_dash_insensitive(api_client, category, make_report, typed):
    report = make_report(category)

    response = api_client.get(f"/api/v1/track/{typed(report.tracking_code)}/")

    assert (response.status_code, response.json()["tracking_code"]) == (
        200, report.tracking_code)


def test_track_unknown_code_is_404(api_client, category, make_report):
    make_report(category)

    response = api_client.get("/api/v1/track/ZZZZ-ZZZZ/")

    assert response.status_code == 404
    assert response.json()["detail"] == "No report has the tracking code “ZZZZ-ZZZZ”."


# --- nearby --------------------------------------------------------------------------------

def test_nearby_returns_open_incidents_within_radius_sorted_by_distance(api_client, category,
                                                                        make_report):
    at_100 = _incident(make_report, category, north_m=100)
    at_50 = _incident(make_report, category, east_m=50)
    at_250 = _incident(make_report, category, north_m=-250)
    _incident(make_report, category, east_m=400)
    closed = _incident(make_report, category, east_m=-20)
    _set_status(closed.pk, S.CLOSED)
    lights = CategoryFactory(code="streetlight", department=category.department)
    _incident(make_report, lights, north_m=10)

    response = api_client.get(NEARBY, {"category": "pothole", "lon": CENTRE[0],
                                       "lat": CENTRE[1], "radius": 300})

    assert response.status_code == 200
    assert response.json()["type"] == "FeatureCollection"
    assert _ids(response) == [at_50.pk, at_100.pk, at_250.pk]


def test_nearby_with_unknown_category_is_400(api_client, city):
    response = api_client.get(NEARBY, {"category": "nope", "lon": CENTRE[0], "lat": CENTRE[1]})

    assert response.status_code == 400
    assert response.json()["detail"] == "“nope” is not a known category."


# --- me too --------------------------------------------------------------------------------

def test_join_attaches_a_new_report_to_the_incident(api_client, category, make_report):
    incident = _incident(make_report, category)

    response = api_client.post(f"{LIST}{incident.pk}/join/", {"description": "Me too"},
                               format="json")

    assert response.status_code == 201, response.json()
    properties = response.json()["properties"]
    assert (properties["incident"], properties["joined_existing"]) == (incident.pk, True)
    incident.refresh_from_db()
    assert (incident.report_count, Report.objects.filter(incident=incident).count()) == (2, 2)
    assert Report.objects.get(tracking_code=properties["tracking_code"]).description == "Me too"


@pytest.mark.parametrize("status", [S.CLOSED, S.REJECTED, S.MERGED, S.RESOLVED])
def test_join_of_a_finished_incident_is_409_and_changes_nothing(api_client, category,
                                                                make_report, status):
    incident = _incident(make_report, category)
    _set_status(incident.pk, status)
    before = _state()

    response = api_client.post(f"{LIST}{incident.pk}/join/", {"description": "Me too"},
                               format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == ("This incident is no longer open; please file a new "
                                         "report.")
    assert _state() == before


# --- transition endpoint -------------------------------------------------------------------

def test_transition_endpoint_moves_the_incident(dispatcher_client, dispatcher, category,
                                                make_report):
    incident = _incident(make_report, category)

    response = dispatcher_client.post(f"{LIST}{incident.pk}/transition/",
                                      {"to": "verified", "note": "Seen", "version": incident.version},
                                      format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["properties"]["status"], response.json()["properties"]["version"]) == (
        "verified", incident.version + 1)
    update = IncidentUpdate.objects.filter(incident=incident).latest("pk")
    assert (update.by, update.from_status, update.to_status, update.note) == (
        dispatcher, "new", "verified", "Seen")


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL_PAIRS,
                         ids=[f"{a}->{b}" for a, b in ILLEGAL_PAIRS])
def test_illegal_transition_is_409_listing_allowed_moves(dispatcher_client, category,
                                                         make_report, from_status, to_status):
    incident = _incident(make_report, category)
    _set_status(incident.pk, from_status)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{incident.pk}/transition/",
                                      {"to": to_status, "note": "Because"}, format="json")

    allowed = [str(s) for s in LEGAL[from_status]]
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"An incident in status “{from_status}” cannot move to “{to_status}”. "
                  f"Allowed from “{from_status}”: {', '.join(allowed) or 'none'}.",
        "code": "invalid_transition", "allowed": allowed, "current": from_status}
    assert _state() == before


@pytest.mark.parametrize(("from_status", "to_status"), [
    (S.NEW, S.REJECTED), (S.ON_SITE, S.VERIFIED), (S.RESOLVED, S.REOPENED),
    (S.CLOSED, S.REOPENED)])
def test_transition_without_a_required_reason_is_400(dispatcher_client, category, make_report,
                                                     from_status, to_status):
    incident = _incident(make_report, category)
    _set_status(incident.pk, from_status)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{incident.pk}/transition/", {"to": to_status},
                                      format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == (f"Say why: a reason is required to move from "
                                         f"“{from_status}” to “{to_status}”.")
    assert response.json()["errors"] == {"note": [response.json()["detail"]]}
    assert _state() == before


def test_transition_with_a_stale_version_is_409(dispatcher_client, dispatcher, category,
                                               make_report):
    incident = _incident(make_report, category)
    loaded_version = incident.version
    incident_note_add(incident=incident, by=dispatcher, note="Someone else was here",
                      public=False)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{incident.pk}/transition/",
                                      {"to": "verified", "version": loaded_version},
                                      format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["detail"] == (
        f"The incident changed since you loaded it (now version {loaded_version + 1}, status "
        f"“new”). Reload and try again.")
    assert _state() == before


def test_transition_to_an_unknown_status_is_400(dispatcher_client, category, make_report):
    incident = _incident(make_report, category)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{incident.pk}/transition/", {"to": "done"},
                                      format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == 'to: "done" is not a valid choice.'
    assert _state() == before


def test_transition_of_unknown_incident_is_404(dispatcher_client, city):
    response = dispatcher_client.post(f"{LIST}987654/transition/", {"to": "verified"},
                                      format="json")

    assert response.status_code == 404


# --- merge and split endpoints -------------------------------------------------------------

def test_merge_endpoint_returns_the_target(dispatcher_client, category, make_report):
    target = _incident(make_report, category)
    source = _incident(make_report, category, north_m=500)

    response = dispatcher_client.post(f"{LIST}{source.pk}/merge/", {"target": target.pk},
                                      format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["id"], response.json()["properties"]["report_count"]) == (
        target.pk, 2)
    source.refresh_from_db()
    assert (source.status, source.merged_into_id) == (S.MERGED, target.pk)


@pytest.mark.parametrize(("target_of", "status", "code", "detail"), [
    (lambda s, t: s.pk, S.NEW, 400, "An incident cannot be merged into itself."),
    (lambda s, t: 987654, S.NEW, 400, "Incident #987654 does not exist."),
    (lambda s, t: t.pk, S.CLOSED, 409, "Incident #{t} is closed; only open incidents can be "
                                       "merged."),
])
def test_merge_endpoint_refusals_change_nothing(dispatcher_client, category, make_report,
                                                target_of, status, code, detail):
    target = _incident(make_report, category)
    source = _incident(make_report, category, north_m=500)
    _set_status(target.pk, status)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{source.pk}/merge/",
                                      {"target": target_of(source, target)}, format="json")

    assert response.status_code == code
    assert response.json()["detail"] == detail.format(t=target.pk)
    assert _state() == before


def test_merge_endpoint_refuses_another_category(dispatcher_client, category, make_report):
    lights = CategoryFactory(code="streetlight", department=category.department)
    target = _incident(make_report, category)
    source = _incident(make_report, lights, north_m=500)
    before = _state()

    response = dispatcher_client.post(f"{LIST}{source.pk}/merge/", {"target": target.pk},
                                      format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"Only incidents of the same category can be merged (#{source.pk} is streetlight, "
        f"#{target.pk} is pothole).")
    assert _state() == before


@pytest.fixture
def three_report_incident(category, make_report):
    reports = [make_report(category), make_report(category, *offset(*CENTRE, east_m=5)),
               make_report(category, *offset(*CENTRE, north_m=10))]
    return Incident.objects.get(pk=reports[0].incident_id), reports


def test_split_endpoint_creates_a_new_incident(dispatcher_client, three_report_incident):
    incident, reports = three_report_incident

    response = dispatcher_client.post(f"{LIST}{incident.pk}/split/",
                                      {"report_ids": [reports[2].pk]}, format="json")

    assert response.status_code == 201, response.json()
    new_id = response.json()["id"]
    assert new_id != incident.pk
    assert (response.json()["properties"]["report_count"],
            Report.objects.get(pk=reports[2].pk).incident_id) == (1, new_id)
    assert Incident.objects.get(pk=incident.pk).report_count == 2


@pytest.mark.parametrize(("choose", "detail"), [
    (lambda reports, foreign: [], "report_ids: Ensure this field has at least 1 elements."),
    (lambda reports, foreign: [r.pk for r in reports],
     "Leave at least one report in the incident; a split needs reports on both sides."),
    (lambda reports, foreign: [reports[0].pk, foreign.pk],
     "Reports {foreign} are not in incident #{incident}."),
])
def test_split_endpoint_refusals_are_400_and_change_nothing(dispatcher_client, category,
                                                            make_report, three_report_incident,
                                                            choose, detail):
    incident, reports = three_report_incident
    foreign = make_report(category, *offset(*CENTRE, north_m=500))
    before = _state()

    response = dispatcher_client.post(f"{LIST}{incident.pk}/split/",
                                      {"report_ids": choose(reports, foreign)}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail.format(foreign=foreign.pk, incident=incident.pk)
    assert _state() == before


# --- notes ---------------------------------------------------------------------------------

def test_note_endpoint_adds_an_internal_note(dispatcher_client, dispatcher, category,
                                             make_report):
    incident = _incident(make_report, category)

    response = dispatcher_client.post(f"{LIST}{incident.pk}/notes/", {"note": "Needs a crane"},
                                      format="json")

    assert response.status_code == 201
    assert {k: response.json()[k] for k in ("note", "public", "by", "from_status")} == {
        "note": "Needs a crane", "public": False, "by": "dispatcher-user", "from_status": ""}


# --- privacy -------------------------------------------------------------------------------

REPORTER = {"reporter_name": "Layla Haddad", "reporter_email": "layla@example.org",
            "reporter_phone": "+358401234567"}
SECRETS = ("Layla", "Haddad", "layla@example.org", "+358401234567", "358401234567",
           "401234567")


@pytest.fixture
def private_report(category, make_report):
    owner = user_with_role(Role.CITIZEN, username="layla")
    report = make_report(category, **REPORTER)
    Report.objects.filter(pk=report.pk).update(user=owner)
    return report


@pytest.mark.parametrize("url", [
    lambda r: LIST,
    lambda r: f"{LIST}?status=open&category=pothole",
    lambda r: f"{LIST}{r.incident_id}/",
    lambda r: f"/api/v1/track/{r.tracking_code}/",
    lambda r: f"{NEARBY}?category=pothole&lon={CENTRE[0]}&lat={CENTRE[1]}",
    lambda r: "/api/v1/categories/",
])
def test_public_reads_never_show_reporter_contact(api_client, private_report, url):
    response = api_client.get(url(private_report))

    assert response.status_code == 200
    assert [s for s in SECRETS if s in response.content.decode()] == []


def test_my_reports_of_another_user_show_nothing_of_them(api_client, private_report):
    other = user_with_role(Role.CITIZEN, username="someone-else")
    api_client.force_authenticate(other)

    response = api_client.get("/api/v1/reports/mine/")

    assert response.status_code == 200
    assert response.json()["features"] == []
    assert [s for s in SECRETS if s in response.content.decode()] == []


def test_my_reports_show_my_report_without_contact_fields(api_client, private_report):
    api_client.force_authenticate(Report.objects.get(pk=private_report.pk).user)

    response = api_client.get("/api/v1/reports/mine/")

    assert [f["properties"]["tracking_code"] for f in response.json()["features"]] == [
        private_report.tracking_code]
    assert [s for s in SECRETS if s in response.content.decode()] == []


def test_public_detail_after_transitions_shows_no_reporter_contact(api_client, private_report,
                                                                   dispatcher):
    incident = Incident.objects.get(pk=private_report.incident_id)
    incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher, note="Seen it")

    response = api_client.get(f"{LIST}{incident.pk}/")

    assert response.json()["properties"]["status"] == "verified"
    assert [s for s in SECRETS if s in response.content.decode()] == []
