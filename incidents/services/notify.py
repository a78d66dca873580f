"""Status back to reporters: an outbox row per reporter per change, written in the change's
transaction; a worker sends them; a sweeper re-queues what a lost message or a dead worker
left behind. A Redis or worker outage delays messages but loses none."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.models import (
    ChannelContact,
    Incident,
    IncidentUpdate,
    Notification,
    Report,
    Status,
)
from incidents.notifications import DeliveryFailed, DeliveryUnavailable, backend_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Statuses a reporter hears about; the internal steps in between are not worth a message.
ANNOUNCED = {Status.VERIFIED, Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SITE,
             Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.REOPENED, Status.REFERRED}


def _announced(update: IncidentUpdate) -> bool:
    # A public note without a status change (an outside agency's answer) is news too; the
    # services that want it sent queue it themselves (incident_note_add does not).
    return update.to_status in ANNOUNCED or (not update.to_status and update.public
                                             and bool(update.note))


def _status_label(status: str) -> str:
    return str(Status(status).label)


def _message(report: Report, update: IncidentUpdate, incident: Incident) -> tuple[str, str]:
    with translation.override(report.language or "en"):
        category = report.category.name_in(report.language)
        if not update.to_status:
            return _news_message(report, update, category)
        subject = _("Your report %(code)s: %(status)s") % {
            "code": report.tracking_code, "status": _status_label(update.to_status)}
        lines = [_("Your report %(code)s (%(category)s) is now: %(status)s.") % {
            "code": report.tracking_code, "category": category,
            "status": _status_label(update.to_status)}]
        if update.to_status == Status.REFERRED and incident.referred_to_id:
            lines.append(_referral_line(incident, report.language))
        if update.public and update.note:
            lines.append(_("Note from the city: %(note)s") % {"note": update.note})
        if update.to_status == Status.RESOLVED:
            lines.append(_("If the problem is still there, you can reopen it within %(days)s "
                           "days with your tracking code.") % {"days": settings.RASAD_REOPEN_DAYS})
        lines.append(_("Follow it here: %(url)s") % {
            "url": f"{settings.RASAD_PUBLIC_URL}/track/{report.tracking_code}/"})
        return subject, "\n".join(lines)


def _referral_line(incident: Incident, language: str) -> str:
    from django.utils.formats import date_format

    return _("It is now with %(agency)s, who are responsible for it, since %(date)s.") % {
        "agency": incident.referred_to.name_in(language),
        "date": date_format(timezone.localtime(incident.referred_at), "DATE_FORMAT")}


def _news_message(report: Report, update: IncidentUpdate, category: str) -> tuple[str, str]:
    subject = _("Your report %(code)s: news") % {"code": report.tracking_code}
    lines = [_("News on your report %(code)s (%(category)s): %(note)s") % {
        "code": report.tracking_code, "category": category, "note": update.note},
        _("Follow it here: %(url)s") % {
            "url": f"{settings.RASAD_PUBLIC_URL}/track/{report.tracking_code}/"}]
    return subject, "\n".join(lines)


def notifications_queue_for_update(*, incident: Incident, update: IncidentUpdate) -> int:
    """Write one outbox row per reporter with a contact; send after commit. Idempotent."""
    return notifications_queue_for_updates(pairs=[(incident, update)])


def _recipient_of(report: Report) -> tuple[str, str, str] | None:
    """Where a report's status messages go: (provider, id there, phone). The channel it came
    from when that was a messaging channel; else its email, else its phone by SMS."""
    if report.contact_id:
        return None  # its contact is known
    if report.reporter_email:
        return ("email", report.reporter_email.lower(), "")
    if report.reporter_phone:
        if report.channel == "whatsapp":
            return ("whatsapp", report.reporter_phone.lstrip("+"), report.reporter_phone)
        return ("sms", report.reporter_phone, report.reporter_phone)
    return None


def _contacts_for(reports: list[Report]) -> dict[int, ChannelContact]:
    """Each report's contact: linked at intake, or found (or made) from its email or phone,
    so that STOP and blocking hold whatever channel the report used."""
    wanted = {r.pk: _recipient_of(r) for r in reports}
    keys = {key for key in wanted.values() if key is not None}
    if keys:
        ChannelContact.objects.bulk_create(
            [ChannelContact(provider=p, external_id=i, phone=phone) for p, i, phone in keys],
            ignore_conflicts=True)
    lookup = Q(pk__in=[r.contact_id for r in reports if r.contact_id])
    for provider, external_id, _phone in keys:
        lookup |= Q(provider=provider, external_id=external_id)
    found = list(ChannelContact.objects.filter(lookup))
    by_pk = {c.pk: c for c in found}
    by_key = {(c.provider, c.external_id): c for c in found}
    contacts = {}
    for report in reports:
        key = wanted[report.pk]
        contact = by_pk.get(report.contact_id) if key is None else by_key.get(key[:2])
        if contact is not None:
            contacts[report.pk] = contact
    return contacts


def notifications_queue_for_updates(*, pairs: list[tuple[Incident, IncidentUpdate]]) -> int:
    """The outbox rows for many changes at once: one query for the reporters, one for their
    contacts, one insert, and one task per change scheduled for after the commit. Reporters
    who sent STOP, and blocked senders, get nothing."""
    pairs = [(i, u) for i, u in pairs if _announced(u)]
    if not pairs:
        return 0
    now = timezone.now()
    update_of = {incident.pk: update for incident, update in pairs}
    incident_of = {incident.pk: incident for incident, _update in pairs}
    reports = list(Report.objects.filter(incident_id__in=list(update_of))
                   .filter(~Q(reporter_email="") | ~Q(reporter_phone="") |
                           Q(contact__isnull=False))
                   .select_related("category"))
    contacts = _contacts_for(reports)
    rows = []
    for report in reports:
        contact = contacts.get(report.pk)
        if contact is None or contact.opted_out_at is not None or contact.blocked:
            continue
        update = update_of[report.incident_id]
        subject, body = _message(report, update, incident_of[report.incident_id])
        with translation.override(report.language or "en"):
            options = ([{"id": f"fixed:{report.tracking_code}", "title": _("It is fixed")},
                        {"id": f"broken:{report.tracking_code}", "title": _("Still broken")}]
                       if update.to_status == Status.RESOLVED else [])
            params = [report.tracking_code,
                      _status_label(update.to_status or incident_of[report.incident_id].status)]
        rows.append(Notification(report=report, update=update, contact=contact,
                                 kind=Notification.Kind.STATUS, channel=contact.provider,
                                 recipient=contact.external_id, language=report.language,
                                 subject=subject, body=body, options=options,
                                 template_params=params, next_attempt_at=now))
    created = Notification.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        from incidents.tasks import notifications_send_task

        update_ids = sorted({row.update_id for row in rows})
        transaction.on_commit(lambda: [task_enqueue(notifications_send_task, update_id=update_id)
                                       for update_id in update_ids])
    return len(created)


def report_receipt_queue(*, report: Report) -> Notification | None:
    """A report an agent took (a call, a service-centre desk) is confirmed to the citizen
    with its tracking code, on the channel their status messages will use. Once."""
    report = Report.objects.select_related("category").get(pk=report.pk)
    contact = _contacts_for([report]).get(report.pk)
    if contact is None or contact.opted_out_at is not None or contact.blocked:
        return None
    with translation.override(report.language or "en"):
        subject = _("Your report %(code)s") % {"code": report.tracking_code}
        body = _("Your report %(code)s (%(category)s) is filed. We will tell you when its status "
                 "changes. Follow it here: %(url)s") % {
            "code": report.tracking_code, "category": report.category.name_in(report.language),
            "url": f"{settings.RASAD_PUBLIC_URL}/track/{report.tracking_code}/"}
    notification, created = Notification.objects.get_or_create(
        dedupe_key=f"receipt:{report.pk}",
        defaults={"report": report, "contact": contact, "kind": Notification.Kind.RECEIPT,
                  "channel": contact.provider, "recipient": contact.external_id,
                  "language": report.language, "subject": subject, "body": body,
                  "template_params": [report.tracking_code, _status_label(report.status)],
                  "next_attempt_at": timezone.now()})
    if created:
        from incidents.tasks import notification_send_task

        transaction.on_commit(lambda: task_enqueue(notification_send_task,
                                                   notification_id=notification.pk))
    return notification


def task_enqueue(task, **kwargs) -> None:
    """Queue a task whose work a sweeper also finds: with the broker down, it waits for the
    sweeper instead of failing the caller."""
    try:
        task.delay(**kwargs)
    except Exception:
        logger.warning("%s%s not queued; the sweeper will", task.name, kwargs, exc_info=True)


def notification_send(*, notification_id: int) -> str:
    """Send one due message. Holds the row lock while sending so two workers given the same
    message (a redelivery, the sweeper) cannot both send it."""
    with transaction.atomic():
        notification = (Notification.objects.select_for_update(skip_locked=True, of=("self",))
                        .select_related("contact")
                        .filter(pk=notification_id, state=Notification.State.PENDING).first())
        if notification is None:
            return "skipped"
        notification.attempts += 1
        try:
            provider_id = backend_for(notification.channel).send(notification)
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
        notification.provider_message_id = (provider_id or "")[:200]
        notification.save(update_fields=["attempts", "state", "sent_at", "last_error",
                                         "provider_message_id"])
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
