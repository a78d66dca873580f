"""What intake agents do with the verification inbox: file a report on the citizen's behalf
from what they sent, or close the item as spam, a duplicate, or answered (not a report),
with an answer that goes back on the citizen's channel. Blocking a sender lives here too.

Each action is one transaction: the item is locked, checked to be open, changed, and the
answer is written to the outbox; nothing changes when anything is refused."""

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.channels import texts
from incidents.channels.dialogue import Reply, media_content
from incidents.channels.process import replies_queue
from incidents.channels.providers import provider_get
from incidents.events import event_publish_on_commit
from incidents.exceptions import Conflict, NotFound, ValidationFailed
from incidents.models import (
    Channel,
    ChannelContact,
    Conversation,
    InboundMedia,
    InboundMessage,
    InboxItem,
    Incident,
    Notification,
    Report,
)


def _item_lock(item_id: int) -> InboxItem:
    item = (InboxItem.objects.select_for_update(of=("self",)).select_related("contact")
            .filter(pk=item_id).first())
    if item is None:
        raise NotFound(_("There is no inbox item #%(id)s.") % {"id": item_id})
    if item.state != InboxItem.State.OPEN:
        code = f" ({item.report.tracking_code})" if item.report_id else ""
        raise Conflict(_("This item was already handled: %(state)s%(code)s.") % {
            "state": InboxItem.State(item.state).label, "code": code})
    return item


def _send_after_commit(ids: list[int]) -> None:
    from incidents.services.notify import task_enqueue
    from incidents.tasks import notification_send_task

    transaction.on_commit(lambda: [task_enqueue(notification_send_task, notification_id=i)
                                   for i in ids])


def _answer(item: InboxItem, text: str, key: str) -> list[int]:
    contact = item.contact
    if contact.blocked or not text:
        return []
    recipient_reply_to = ""
    if contact.provider == "email":
        last = item.messages.order_by("-pk").first()
        recipient_reply_to = last.external_id if last else ""
    ids = replies_queue(contact=contact, replies=[Reply(text)], language=item.language,
                        kind=Notification.Kind.AGENT, key=key, reply_to=recipient_reply_to)
    if contact.provider == "messenger" and item.reason == InboxItem.Reason.COMMENT:
        # A comment is answered with a private reply to the comment itself.
        comment = item.messages.filter(kind=InboundMessage.Kind.COMMENT).order_by("-pk").first()
        if comment is not None:
            Notification.objects.filter(pk__in=ids).update(recipient=comment.external_id)
    _send_after_commit(ids)
    return ids


def _close(item: InboxItem, *, state: str, agent, reply: str = "",
           report: Report | None = None) -> None:
    now = timezone.now()
    item.state, item.handled_by, item.handled_at, item.reply = state, agent, now, reply
    item.report = report
    item.save(update_fields=["state", "handled_by", "handled_at", "reply", "report",
                             "updated_at"])
    if item.conversation_id:
        Conversation.objects.filter(pk=item.conversation_id, closed_at__isnull=True).update(
            state=Conversation.State.FILED if report else Conversation.State.INBOX,
            closed_at=now, report=report)
    event_publish_on_commit(kind="inbox.updated", inbox_id=item.pk, state=state)


def _reporter_phone(contact: ChannelContact) -> str:
    from incidents.services.intake import phone_normalize

    try:
        return phone_normalize(contact.phone) if contact.phone else ""
    except ValueError:
        return ""


@transaction.atomic
def inbox_item_file(*, item_id: int, agent, category_code: str, lon, lat, address: str = "",
                    description: str = "", attributes: dict | None = None,
                    photo_ids: list[int] | None = None,
                    join_incident_id: int | None = None) -> Report:
    """File a report for the citizen from an inbox item: the agent's place, category and
    text, the citizen's photos and contact. The citizen gets the tracking code on their
    channel, and the report's status messages afterwards."""
    from incidents.services.intake import ReportInput, report_submit

    item = _item_lock(item_id)
    contact = item.contact
    provider = provider_get(contact.provider)
    photos = InboundMedia.objects.filter(message__inbox_item=item, is_photo=True,
                                         state=InboundMedia.State.READY).order_by("pk")
    if photo_ids is not None:
        photos = photos.filter(pk__in=photo_ids)
    join = None
    if join_incident_id is not None:
        join = Incident.objects.filter(pk=join_incident_id).first()
        if join is None:
            raise ValidationFailed({"join_incident": [
                _("Incident #%(id)s does not exist.") % {"id": join_incident_id}]})
    channel = (Channel.SOCIAL if item.reason == InboxItem.Reason.COMMENT
               else provider.channel)
    data = ReportInput(
        category_code=category_code, lon=lon, lat=lat, address=address,
        description=description, attributes=attributes or {}, channel=channel,
        language=item.language, reporter_name=contact.display_name[:200],
        reporter_phone=_reporter_phone(contact),
        reporter_email=contact.external_id if contact.provider == "email" else "",
        photos=[(f"photo-{m.pk}.jpg", media_content(m)) for m in photos])
    result = report_submit(data=data, submitted_by=agent, join=join,
                           idempotency_key=f"inbox-{item.pk}")
    report = result.report
    if item.reason != InboxItem.Reason.COMMENT:
        Report.objects.filter(pk=report.pk).update(contact=contact)
    InboundMessage.objects.filter(inbox_item=item).update(report=report)
    with translation.override(item.language):
        text = (texts.joined(report.tracking_code) if join is not None
                else texts.filed(report.tracking_code))
    _close(item, state=InboxItem.State.FILED, agent=agent, report=report, reply=text)
    _answer(item, text, key=f"inbox{item.pk}:filed")
    return report


@transaction.atomic
def inbox_item_close(*, item_id: int, agent, outcome: str, reply: str = "",
                     duplicate_of: str = "", block: bool = False) -> InboxItem:
    """Close an item that is no report: spam (answered nothing; the sender may be blocked),
    a duplicate of a report the citizen is pointed to, or answered (the agent's answer goes
    back on the channel)."""
    from incidents.codes import tracking_code_normalize

    reply = (reply or "").strip()
    if outcome not in (InboxItem.State.SPAM, InboxItem.State.DUPLICATE,
                       InboxItem.State.ANSWERED):
        raise ValidationFailed({"outcome": [_("Choose spam, duplicate or answered.")]})
    item = _item_lock(item_id)
    if len(reply) > 2000:
        raise ValidationFailed({"reply": [_("The answer is too long (2000 characters at "
                                            "most).")]})
    if outcome == InboxItem.State.ANSWERED and not reply:
        raise ValidationFailed({"reply": [_("Write the answer that goes back to the "
                                            "citizen.")]})
    original = None
    if outcome == InboxItem.State.DUPLICATE:
        original = Report.objects.filter(
            tracking_code=tracking_code_normalize(duplicate_of or "")).first()
        if original is None:
            raise ValidationFailed({"duplicate_of": [
                _("No report has the tracking code “%(code)s”.") % {"code": duplicate_of}]})
        with translation.override(item.language):
            pointer = _("This was already reported: tracking code %(code)s, %(url)s") % {
                "code": original.tracking_code, "url": texts.track_url(original.tracking_code)}
        reply = f"{reply}\n{pointer}".strip()
    if outcome == InboxItem.State.SPAM:
        reply = ""
        if block:
            contact_block(contact_id=item.contact_id, agent=agent,
                          reason=_("Marked as spam in the inbox (#%(id)s).") % {"id": item.pk})
    _close(item, state=outcome, agent=agent, reply=reply, report=None)
    if original is not None:
        InboxItem.objects.filter(pk=item.pk).update(report=original)
    _answer(item, reply, key=f"inbox{item.pk}:{outcome}")
    return item


@transaction.atomic
def contact_block(*, contact_id: int, agent, reason: str) -> ChannelContact:
    """An abuse list, as FixMyStreet keeps: a blocked sender is answered nothing, and what
    they send is kept for staff only."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Say why this sender is blocked.")]})
    contact = ChannelContact.objects.select_for_update().filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("There is no contact #%(id)s.") % {"id": contact_id})
    contact.blocked, contact.blocked_reason = True, reason[:300]
    contact.blocked_at, contact.blocked_by = timezone.now(), agent
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "blocked_by",
                                "updated_at"])
    return contact


@transaction.atomic
def contact_unblock(*, contact_id: int) -> ChannelContact:
    contact = ChannelContact.objects.select_for_update().filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("There is no contact #%(id)s.") % {"id": contact_id})
    contact.blocked, contact.blocked_reason, contact.blocked_at = False, "", None
    contact.save(update_fields=["blocked", "blocked_reason", "blocked_at", "updated_at"])
    return contact
