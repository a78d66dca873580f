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


@shared_task
def storm_modes_sweep_task() -> int:
    """Storm modes end by themselves at their end time; priorities follow the modes."""
    from crews.services.storm import emergency_modes_sweep

    return emergency_modes_sweep()


@shared_task
def plow_passes_match_task() -> dict:
    """Winter crews' new GPS pings to road passes (beat, every minute); idempotent."""
    from crews.services.plowmap import plow_passes_match

    run = plow_passes_match()
    return {"crews": run.crews, "pings": run.pings, "passes": run.passes}


@shared_task
def plow_map_refresh_task() -> dict:
    """The public plow map's cached GeoJSON (beat, every minute)."""
    from crews.services.plowmap import plow_map_refresh

    return plow_map_refresh()
