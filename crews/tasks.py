"""Celery entry points for crews: thin callers of services."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from incidents.exceptions import Conflict


# Conflict: a crew changed one of the incidents while the plan was being made (nothing was
# stored); planning again from the new state is safe. Delivered twice, the second run finds
# the incident assigned and does nothing.
@shared_task(acks_late=True, autoretry_for=(Conflict,), retry_backoff=1, max_retries=3)
def dispatch_urgent_task(*, incident_id: int) -> dict | None:
    from crews.services.dispatch import dispatch_urgent

    result = dispatch_urgent(incident_id=incident_id)
    if result is None:
        return None
    return {"plans": [p.pk for p in result.plans],
            "unassigned": [u.incident_id for u in result.unassigned]}


@shared_task
def positions_purge_task() -> int:
    from crews.services.positions import positions_purge

    return positions_purge(older_than=timedelta(days=settings.RASAD_POSITION_RETENTION_DAYS))
