"""An incident referred to an outside agency leaves the crews' routes: its stop not yet
started is taken off the published plan (the crew's phone reloads it); the other stops
stay."""

import pytest

from crews.models import RouteStop
from incidents.models import Agency, Incident
from incidents.services.referrals import incident_refer

pytestmark = pytest.mark.django_db


@pytest.fixture
def electricity():
    return Agency.objects.create(code="electricity", name_en="Electricity company",
                                 email="referrals@electricity.example")


def test_a_referred_incident_is_taken_off_the_crews_route(planned, electricity, dispatcher):
    plan, (first, second) = planned

    incident_refer(incident=Incident.objects.get(pk=second.pk), agency=electricity,
                   by=dispatcher)

    states = dict(RouteStop.objects.filter(plan=plan).values_list("incident_id", "state"))
    assert states == {first.pk: "pending", second.pk: "removed"}
    assert Incident.objects.get(pk=second.pk).status == "referred"
    assert Incident.objects.get(pk=first.pk).status == "assigned"


def test_a_refused_referral_leaves_the_route_as_it_was(planned, dispatcher):
    from incidents.exceptions import ValidationFailed

    plan, (_first, second) = planned
    nobody = Agency.objects.create(code="nobody", name_en="No contact")

    with pytest.raises(ValidationFailed):
        incident_refer(incident=Incident.objects.get(pk=second.pk), agency=nobody,
                       by=dispatcher)

    assert set(RouteStop.objects.filter(plan=plan).values_list("state", flat=True)) == {
        "pending"}
