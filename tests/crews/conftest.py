from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient

from crews.models import Crew, RoutePlan, RouteStop, Shift
from incidents.models import Status
from incidents.services import incident_transition
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role


@pytest.fixture
def crew(department):
    now = timezone.now()
    crew = Crew.objects.create(code="road-1", name="Road crew 1", department=department,
                               skills=["asphalt", "plow"], capacity=10,
                               depot=Point(24.925, 60.165, srid=4326))
    Shift.objects.create(crew=crew, starts_at=now - timedelta(hours=1),
                         ends_at=now + timedelta(hours=8))
    return crew


@pytest.fixture
def crew_member(crew):
    user = user_with_role(Role.CREW, username="crew-member")
    crew.members.add(user)
    return user


@pytest.fixture
def crew_client(crew_member):
    client = APIClient()
    client.force_authenticate(crew_member)
    return client


@pytest.fixture
def planned(crew, category, make_report, dispatcher):
    """Two verified-then-assigned incidents on the crew's published plan, in order."""
    incidents = []
    for i in range(2):
        report = make_report(category, *offset(*CENTRE, north_m=300 * i))
        incident = incident_transition(incident=report.incident, to=Status.VERIFIED,
                                       by=dispatcher)
        incidents.append(incident_transition(incident=incident, to=Status.ASSIGNED,
                                             by=dispatcher))
    now = timezone.now()
    plan = RoutePlan.objects.create(crew=crew, version=1, engine="vroom",
                                    matrix_source="great_circle", starts_at=now)
    for i, incident in enumerate(incidents):
        RouteStop.objects.create(plan=plan, incident=incident, sequence=i + 1,
                                 eta=now + timedelta(minutes=10 * (i + 1)),
                                 departs_at=now + timedelta(minutes=10 * (i + 1) + 5),
                                 service_s=300)
    return plan, incidents
