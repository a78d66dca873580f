"""Celery entry points: thin callers of services, ids in, idempotent."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from incidents.services.media import MediaTemporarilyUnavailable


@shared_task(autoretry_for=(MediaTemporarilyUnavailable,), retry_backoff=True,
             retry_backoff_max=600, max_retries=5)
def photo_fetch_task(*, photo_id: int) -> str:
    from incidents.services.media import photo_fetch

    return photo_fetch(photo_id=photo_id).state


@shared_task
def photo_fetch_sweep_task() -> int:
    """Re-queue photos still pending after a while: a lost message delays, never loses."""
    from incidents.models import Photo

    stale = timezone.now() - timedelta(minutes=2)
    ids = list(Photo.objects.filter(state=Photo.State.PENDING, updated_at__lt=stale,
                                    attempts__lt=5).values_list("pk", flat=True)[:500])
    for photo_id in ids:
        photo_fetch_task.delay(photo_id=photo_id)
    return len(ids)


@shared_task
def incidents_recluster_task() -> dict:
    from incidents.services.clustering import incidents_recluster

    result = incidents_recluster()
    return {"groups": result.groups, "merged": result.merged}


@shared_task
def incidents_reprioritize_task() -> int:
    from incidents.services.clustering import incidents_reprioritize

    return incidents_reprioritize()
