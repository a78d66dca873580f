"""Status back to reporters: an outbox row per reporter per change, written in the change's
transaction; a worker sends them; a sweeper re-queues what a lost message or a dead worker
left behind. A Redis or worker outage delays messages but loses none."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.models import Incident, IncidentUpdate, Notification, Report, Status
from incidents.notifications import DeliveryFailed, DeliveryUnavailable, backend_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Statuses a reporter hears about; the internal steps in between are not worth a message.
ANNOUNCED = {Status.VERIFIED, Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SITE,
             Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.REOPENED}


def _status_label(status: str) -> str:
    return str(Status(status).label)


def _message(report: Report, update: IncidentUpdate, incident: Incident) -> tuple[str, str]:
    with translation.override(report.language or "en"):
        category = report.category.name_in(report.language)
        subject = _("Your report %(code)s: %(status)s") % {
            "code": report.tracking_code, "status": _status_label(update.to_status)}
        lines = [_("Your report %(code)s (%(category)s) is now: %(status)s.") % {
            "code": report.tracking_code, "category": category,
            "status": _status_label(update.to_status)}]
        if update.public and update.note:
            lines.append(_("Note from the city: %(note)s") % {"note": update.note})
        if update.to_status == Status.RESOLVED:
            lines.append(_("If the problem is still there, you can reopen it within %(days)s "
                           "days with your tracking code.") % {"days": settings.RASAD_REOPEN_DAYS})
        lines.append(_("Follow it here: %(url)s") % {
            "url": f"{settings.RASAD_PUBLIC_URL}/track/{report.tracking_code}/"})
        return subject, "\n".join(lines)


def notifications_queue_for_update(*, incident: Incident, update: IncidentUpdate) -> int:
    """Write one outbox row per reporter with a contact; send after commit. Idempotent."""
    return notifications_queue_for_updates(pairs=[(incident, update)])


def notifications_queue_for_updates(*, pairs: list[tuple[Incident, IncidentUpdate]]) -> int:
    """The outbox rows for many changes at once: one query for the reporters, one insert,
    and one task per change scheduled for after the commit."""
    pairs = [(i, u) for i, u in pairs if u.to_status in ANNOUNCED]
    if not pairs:
        return 0
    now = timezone.now()
    update_of = {incident.pk: update for incident, update in pairs}
    incident_of = {incident.pk: incident for incident, _update in pairs}
    rows = []
    reports = (Report.objects.filter(incident_id__in=list(update_of))
               .exclude(reporter_email="", reporter_phone="")
               .select_related("category"))
    for report in reports:
        update = update_of[report.incident_id]
        subject, body = _message(report, update, incident_of[report.incident_id])
        if report.reporter_email:
            channel, recipient = Notification.Channel.EMAIL, report.reporter_email
        elif report.channel == "whatsapp":
            channel, recipient = Notification.Channel.WHATSAPP, report.reporter_phone
        else:
            channel, recipient = Notification.Channel.SMS, report.reporter_phone
        rows.append(Notification(report=report, update=update, channel=channel,
                                 recipient=recipient, language=report.language,
                                 subject=subject, body=body, next_attempt_at=now))
    created = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        from incidents.tasks import notifications_send_task

        update_ids = sorted({row.update_id for row in rows})
        transaction.on_commit(lambda: [_enqueue(notifications_send_task, update_id)
                                       for update_id in update_ids])
    return len(created)


def _enqueue(task, update_id: int) -> None:
    try:
        task.delay(update_id=update_id)
    except Exception:
        # The broker is down: the sweeper picks these up when it is back.
        logger.warning("notifications for update %s not queued; the sweeper will", update_id,
                       exc_info=True)


def notification_send(*, notification_id: int) -> str:
    """Send one due message. Holds the row lock while sending so two workers given the same
    message (a redelivery, the sweeper) cannot both send it."""
    with transaction.atomic():
        notification = (Notification.objects.select_for_update(skip_locked=True)
                        .filter(pk=notification_id, state=Notification.State.PENDING).first())
        if notification is None:
            return "skipped"
        notification.attempts += 1
        try:
            backend_for(notification.channel).send(
                recipient=notification.recipient, subject=notification.subject,
                body=notification.body, language=notification.language,
                idempotency_key=f"rasad-{notification.pk}")
        except DeliveryUnavailable as exc:
            delay = min(3600, 30 * 2 ** min(notification.attempts, 7))
            notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            notification.last_error = str(exc)[:500]
            if notification.attempts >= MAX_ATTEMPTS:
                notification.state = Notification.State.FAILED
            notification.save(update_fields=["attempts", "next_attempt_at", "last_error",
                                             "state"])
            return "retry"
        except DeliveryFailed as exc:
            notification.state = Notification.State.FAILED
            notification.last_error = str(exc)[:500]
            notification.save(update_fields=["attempts", "state", "last_error"])
            return "failed"
        notification.state = Notification.State.SENT
        notification.sent_at = timezone.now()
        notification.last_error = ""
        notification.save(update_fields=["attempts", "state", "sent_at", "last_error"])
        return "sent"


def notifications_send_for_update(*, update_id: int) -> dict[str, int]:
    results: dict[str, int] = {}
    ids = Notification.objects.filter(update_id=update_id, state=Notification.State.PENDING,
                                      next_attempt_at__lte=timezone.now()).values_list("pk",
                                                                                       flat=True)
    for notification_id in list(ids):
        outcome = notification_send(notification_id=notification_id)
        results[outcome] = results.get(outcome, 0) + 1
    return results


def notifications_due_ids(*, limit: int = 500) -> list[int]:
    """Pending messages whose time has come: missed by a lost task or waiting for a retry."""
    return list(Notification.objects.filter(state=Notification.State.PENDING,
                                            next_attempt_at__lte=timezone.now())
                .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
