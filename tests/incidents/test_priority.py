"""The priority formula exists twice: in Python (incidents.priority) and in the database
(rasad_priority, used by intake's single statement). They must agree."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from incidents.priority import priority_score

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _in_database(**kwargs) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rasad_priority(%s, %s, %s, %s, %s, %s)",
                       [kwargs["severity"], kwargs["report_count"],
                        kwargs["first_reported_at"], kwargs["sla_hours"], kwargs["now"],
                        kwargs["reopened"]])
        return cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("severity", [0, 3, 7])
@pytest.mark.parametrize("report_count", [0, 1, 3, 11, 1000])
@pytest.mark.parametrize("age_hours", [-1, 0, 23.99, 30, 500])
@pytest.mark.parametrize("reopened", [False, True])
def test_database_priority_equals_python_priority(severity, report_count, age_hours, reopened):
    given = {"severity": severity, "report_count": report_count,
             "first_reported_at": NOW - timedelta(hours=age_hours), "sla_hours": 24,
             "now": NOW, "reopened": reopened}

    in_database = _in_database(**given)

    assert in_database == pytest.approx(priority_score(**given), abs=0.011)


@pytest.mark.django_db
def test_database_priority_of_a_new_pothole_is_exact():
    given = {"severity": 3, "report_count": 1, "first_reported_at": NOW, "sla_hours": 48,
             "now": NOW, "reopened": False}

    assert _in_database(**given) == priority_score(**given) == 36.0
