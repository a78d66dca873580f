"""Celery entry points: thin callers of services, ids in, idempotent."""

from celery import shared_task

from incidents.services.media import MediaTemporarilyUnavailable


@shared_task(autoretry_for=(MediaTemporarilyUnavailable,), retry_backoff=True,
             retry_backoff_max=600, max_retries=5)
def photo_fetch_task(*, photo_id: int) -> str:
    from incidents.services.media import photo_fetch

    return photo_fetch(photo_id=photo_id).state


@shared_task
def photo_fetch_sweep_task() -> int:
    """Queue again the photos still pending after two minutes; bounded to 500 a run."""
    from incidents.services.media import photos_fetch_stale

    ids = photos_fetch_stale()
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


@shared_task(acks_late=True)
def notifications_send_task(*, update_id: int) -> dict:
    from incidents.services.notify import notifications_send_for_update

    return notifications_send_for_update(update_id=update_id)


@shared_task(acks_late=True)
def notification_send_task(*, notification_id: int) -> str:
    from incidents.services.notify import notification_send

    return notification_send(notification_id=notification_id)


@shared_task
def notifications_sweep_task() -> int:
    """Send what is due and still pending: the safety net under the per-change task."""
    from incidents.services.notify import notification_send, notifications_due_ids

    ids = notifications_due_ids()
    for notification_id in ids:
        notification_send(notification_id=notification_id)
    return len(ids)
