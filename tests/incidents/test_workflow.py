"""The incident state machine: incident_transition and what it records."""

import pytest

from incidents.exceptions import Conflict, InvalidTransition, ValidationFailed
from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.services import incident_transition
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db

S = Status
# The design's state machine, spelled out here so a change to ALLOWED_TRANSITIONS is a
# deliberate change to this table too. `merged` is reached only through incident_merge.
LEGAL = {
    S.NEW: [S.VERIFIED, S.REJECTED, S.REFERRED],
    S.VERIFIED: [S.ASSIGNED, S.REJECTED, S.REFERRED],
    S.ASSIGNED: [S.EN_ROUTE, S.ON_SITE, S.VERIFIED, S.REFERRED],
    S.EN_ROUTE: [S.ON_SITE, S.ASSIGNED, S.VERIFIED],
    S.ON_SITE: [S.RESOLVED, S.VERIFIED],
    S.RESOLVED: [S.CLOSED, S.REOPENED],
    S.CLOSED: [S.REOPENED],
    S.REOPENED: [S.VERIFIED, S.ASSIGNED, S.REJECTED, S.REFERRED],
    S.REJECTED: [S.VERIFIED],
    S.MERGED: [],
    S.REFERRED: [S.RESOLVED, S.CLOSED, S.REJECTED, S.VERIFIED],
}
# Moves to `referred` need the agency: tested through incident_refer (test_referrals.py).
LEGAL_PAIRS = [(a, b) for a, tos in LEGAL.items() for b in tos if b != S.REFERRED]
ILLEGAL_PAIRS = [(a, b) for a in S.values for b in S.values if b not in LEGAL[a]]
REASON_PAIRS = [(S.NEW, S.REJECTED), (S.VERIFIED, S.REJECTED), (S.REOPENED, S.REJECTED),
                (S.ON_SITE, S.VERIFIED), (S.RESOLVED, S.REOPENED), (S.CLOSED, S.REOPENED),
                (S.REFERRED, S.VERIFIED), (S.REFERRED, S.REJECTED), (S.REFERRED, S.CLOSED)]


def _pair_id(pair) -> str:
    return f"{pair[0]}->{pair[1]}"


@pytest.fixture
def incident_in(category, make_report):
    """An incident with two reports, put straight into `status` (the given state)."""

    def _make(status: str) -> Incident:
        first = make_report(category)
        make_report(category, *offset(*CENTRE, east_m=5))
        Incident.objects.filter(pk=first.incident_id).update(status=status)
        Report.objects.filter(incident_id=first.incident_id).update(status=status)
        return Incident.objects.get(pk=first.incident_id)

    return _make


def _snapshot(incident: Incident) -> tuple:
    fresh = Incident.objects.get(pk=incident.pk)
    reports = sorted(Report.objects.filter(incident=incident).values_list("status", flat=True))
    return (fresh.status, fresh.version, fresh.verified_at, fresh.resolved_at, fresh.closed_at,
            IncidentUpdate.objects.filter(incident=incident).count(), reports)


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL_PAIRS, ids=map(_pair_id, LEGAL_PAIRS))
def test_every_allowed_transition_succeeds_and_is_recorded(incident_in, dispatcher,
                                                           from_status, to_status):
    incident = incident_in(from_status)
    updates_before = IncidentUpdate.objects.filter(incident=incident).count()

    result = incident_transition(incident=incident, to=to_status, by=dispatcher,
                                 note="Checked on site", public=False)

    assert result.status == to_status
    assert Incident.objects.get(pk=incident.pk).version == incident.version + 1
    assert IncidentUpdate.objects.filter(incident=incident).count() == updates_before + 1
    update = IncidentUpdate.objects.filter(incident=incident).latest("pk")
    assert (update.by, update.from_status, update.to_status, update.note, update.public) == (
        dispatcher, from_status, to_status, "Checked on site", False)


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL_PAIRS, ids=map(_pair_id, LEGAL_PAIRS))
def test_reports_mirror_the_incident_status_after_a_transition(incident_in, dispatcher,
                                                               from_status, to_status):
    incident = incident_in(from_status)

    incident_transition(incident=incident, to=to_status, by=dispatcher, note="Because")

    assert list(Report.objects.filter(incident=incident).values_list("status", flat=True)) == [
        to_status, to_status]


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL_PAIRS,
                         ids=map(_pair_id, ILLEGAL_PAIRS))
def test_every_illegal_transition_is_refused_and_changes_nothing(incident_in, dispatcher,
                                                                 from_status, to_status):
    incident = incident_in(from_status)
    before = _snapshot(incident)

    with pytest.raises(InvalidTransition) as caught:
        incident_transition(incident=incident, to=to_status, by=dispatcher, note="Because")

    allowed = [str(s) for s in LEGAL[from_status]]
    assert caught.value.allowed == allowed
    assert (caught.value.current, caught.value.to) == (from_status, to_status)
    assert caught.value.message == (
        f"An incident in status “{from_status}” cannot move to “{to_status}”. "
        f"Allowed from “{from_status}”: {', '.join(allowed) or 'none'}.")
    assert _snapshot(incident) == before


@pytest.mark.parametrize("from_status", [S.NEW, S.VERIFIED, S.REOPENED])
def test_merged_cannot_be_reached_by_a_transition(incident_in, dispatcher, from_status):
    incident = incident_in(from_status)
    before = _snapshot(incident)

    with pytest.raises(InvalidTransition) as caught:
        incident_transition(incident=incident, to=S.MERGED, by=dispatcher, note="dupe")

    assert S.MERGED not in caught.value.allowed
    assert "merged" not in caught.value.message.split("Allowed")[1]
    assert _snapshot(incident) == before


@pytest.mark.parametrize(("from_status", "to_status"), REASON_PAIRS, ids=map(_pair_id, REASON_PAIRS))
@pytest.mark.parametrize("note", ["", "   "])
def test_reject_cannot_fix_and_reopen_require_a_reason(incident_in, dispatcher, from_status,
                                                       to_status, note):
    incident = incident_in(from_status)
    before = _snapshot(incident)

    with pytest.raises(ValidationFailed) as caught:
        incident_transition(incident=incident, to=to_status, by=dispatcher, note=note)

    assert caught.value.errors == {"note": [
        f"Say why: a reason is required to move from “{from_status}” to “{to_status}”."]}
    assert _snapshot(incident) == before


@pytest.mark.parametrize(("from_status", "to_status"), REASON_PAIRS, ids=map(_pair_id, REASON_PAIRS))
def test_reason_is_stored_on_the_update(incident_in, dispatcher, from_status, to_status):
    incident = incident_in(from_status)

    incident_transition(incident=incident, to=to_status, by=dispatcher, note="  Needs a crane ")

    assert IncidentUpdate.objects.filter(incident=incident).latest("pk").note == "Needs a crane"


def test_stale_version_is_refused_and_changes_nothing(incident_in, dispatcher):
    incident = incident_in(S.NEW)
    before = _snapshot(incident)

    with pytest.raises(Conflict) as caught:
        incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher,
                            expected_version=incident.version - 1)

    assert caught.value.http_status == 409
    assert caught.value.message == (f"The incident changed since you loaded it (now version "
                                    f"{incident.version}, status “new”). Reload and try again.")
    assert _snapshot(incident) == before


def test_current_version_is_accepted(incident_in, dispatcher):
    incident = incident_in(S.NEW)

    result = incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher,
                                 expected_version=incident.version)

    assert (result.status, result.version) == (S.VERIFIED, incident.version + 1)


def test_unknown_status_is_refused_and_changes_nothing(incident_in, dispatcher):
    incident = incident_in(S.NEW)
    before = _snapshot(incident)

    with pytest.raises(ValidationFailed) as caught:
        incident_transition(incident=incident, to="done", by=dispatcher)

    assert caught.value.errors == {"to": ["“done” is not a status."]}
    assert _snapshot(incident) == before


def test_happy_path_sets_verified_resolved_and_closed_timestamps(incident_in, dispatcher):
    incident = incident_in(S.NEW)

    for to in (S.VERIFIED, S.ASSIGNED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.CLOSED):
        incident = incident_transition(incident=incident, to=to, by=dispatcher)

    incident.refresh_from_db()
    assert incident.status == S.CLOSED
    assert incident.verified_at is not None
    assert incident.verified_at <= incident.resolved_at <= incident.closed_at
    assert list(IncidentUpdate.objects.filter(incident=incident, by=dispatcher)
                .values_list("from_status", "to_status")) == [
        (S.NEW, S.VERIFIED), (S.VERIFIED, S.ASSIGNED), (S.ASSIGNED, S.EN_ROUTE),
        (S.EN_ROUTE, S.ON_SITE), (S.ON_SITE, S.RESOLVED), (S.RESOLVED, S.CLOSED)]


def test_new_incident_has_no_timestamps_yet(incident_in):
    incident = incident_in(S.NEW)

    assert (incident.verified_at, incident.resolved_at, incident.closed_at) == (None, None, None)


def test_verifying_again_keeps_the_first_verified_at(incident_in, dispatcher):
    incident = incident_transition(incident=incident_in(S.NEW), to=S.VERIFIED, by=dispatcher)
    first_verified_at = incident.verified_at
    incident = incident_transition(incident=incident, to=S.ASSIGNED, by=dispatcher)

    incident = incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher)

    assert Incident.objects.get(pk=incident.pk).verified_at == first_verified_at


def test_reopen_clears_resolved_and_closed_and_raises_priority(incident_in, dispatcher):
    incident = incident_in(S.ON_SITE)
    incident = incident_transition(incident=incident, to=S.RESOLVED, by=dispatcher)
    incident = incident_transition(incident=incident, to=S.CLOSED, by=dispatcher)
    priority_before = Incident.objects.get(pk=incident.pk).priority

    incident_transition(incident=incident, to=S.REOPENED, by=None, note="Still broken")

    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at, incident.closed_at) == (S.REOPENED, None, None)
    assert incident.priority == pytest.approx(priority_before + 10, abs=0.5)


def test_reject_stores_the_reason_on_every_report(incident_in, dispatcher):
    incident = incident_in(S.NEW)

    incident_transition(incident=incident, to=S.REJECTED, by=dispatcher, note="Private land")

    assert list(Report.objects.filter(incident=incident)
                .values_list("status", "rejected_reason")) == [
        (S.REJECTED, "Private land"), (S.REJECTED, "Private land")]


def test_verifying_a_rejected_incident_clears_the_reports_rejection_reason(incident_in,
                                                                          dispatcher):
    incident = incident_transition(incident=incident_in(S.NEW), to=S.REJECTED, by=dispatcher,
                                   note="Looks like spam")

    incident_transition(incident=incident, to=S.VERIFIED, by=dispatcher)

    assert list(Report.objects.filter(incident=incident)
                .values_list("status", "rejected_reason")) == [
        (S.VERIFIED, ""), (S.VERIFIED, "")]
    assert IncidentUpdate.objects.filter(incident=incident, to_status=S.REJECTED).get().note == (
        "Looks like spam")



def test_bulk_moves_record_each_change_and_mirror_reports(category, make_report, dispatcher):
    from incidents.services.workflow import Move, incidents_transition_bulk
    from tests.conftest import CENTRE, offset

    reports = [make_report(category, *offset(*CENTRE, north_m=200 * i)) for i in range(3)]
    for report in reports:
        incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    incidents = [Incident.objects.get(pk=r.incident_id) for r in reports]

    incidents_transition_bulk(by=dispatcher, moves=[
        Move(incident_id=i.pk, to=Status.ASSIGNED, note="planned",
             expected_version=i.version) for i in incidents])

    for before in incidents:
        after = Incident.objects.get(pk=before.pk)
        assert (after.status, after.version) == (Status.ASSIGNED, before.version + 1)
        last = after.updates.order_by("-pk").first()
        assert (last.from_status, last.to_status, last.note, last.by) == (
            Status.VERIFIED, Status.ASSIGNED, "planned", dispatcher)
        assert set(after.reports.values_list("status", flat=True)) == {Status.ASSIGNED}


def test_bulk_move_with_one_stale_version_changes_nothing(category, make_report, dispatcher):
    from incidents.exceptions import Conflict
    from incidents.services.workflow import Move, incidents_transition_bulk
    from tests.conftest import CENTRE, offset

    reports = [make_report(category, *offset(*CENTRE, north_m=200 * i)) for i in range(2)]
    for report in reports:
        incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    first, second = (Incident.objects.get(pk=r.incident_id) for r in reports)

    with pytest.raises(Conflict):
        incidents_transition_bulk(by=dispatcher, moves=[
            Move(incident_id=first.pk, to=Status.ASSIGNED, expected_version=first.version),
            Move(incident_id=second.pk, to=Status.ASSIGNED,
                 expected_version=second.version - 1)])

    assert list(Incident.objects.filter(pk__in=[first.pk, second.pk])
                .values_list("status", flat=True)) == [Status.VERIFIED, Status.VERIFIED]
