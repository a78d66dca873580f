"""The worker's side of the channels: a contact's stored messages are handled one at a time,
in the order the citizen sent them, each in one transaction with what it causes (the
conversation's step, a filed report, an inbox item, the answers in the outbox). A crash or
a lost task leaves the message pending; the sweeper hands it to a worker again."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from gis.geo import advisory_xact_lock, text_lock_key
from incidents.channels import texts
from incidents.channels.base import MediaRefused
from incidents.channels.dialogue import Dialogue, Reply, conversation_idle_limit, media_content
from incidents.channels.providers import provider_get
from incidents.events import event_publish_on_commit
from incidents.exceptions import Conflict, PhotoRejected, ValidationFailed
from incidents.models import (
    ChannelContact,
    Conversation,
    InboundMedia,
    InboundMessage,
    InboxItem,
    Notification,
    Report,
    Status,
)
from incidents.photos import photo_clean
from incidents.services.media import MediaTemporarilyUnavailable
from incidents.services.survey import SURVEY_CHOICE, survey_reply

logger = logging.getLogger(__name__)

MEDIA_MAX_ATTEMPTS = 5
MESSAGE_MAX_ATTEMPTS = 3
S = Conversation.State


def _contact_lock(contact_id: int) -> None:
    """Serialise the handling of one contact's messages (across workers), without holding
    the contact's row, which the webhook refreshes with every message."""
    advisory_xact_lock([text_lock_key(f"channel-contact:{contact_id}")])


# -- Files -----------------------------------------------------------------------------------

def media_prepare(message: InboundMessage, provider) -> None:
    """Fetch the files of a message, outside any transaction (a provider may be slow).
    Photos are kept cleaned (incidents.photos); other files as sent. A file that can never
    be had is marked failed with the reason, which the dialogue tells the citizen; a
    provider that is down raises MediaTemporarilyUnavailable, and the task retries."""
    for item in message.media or []:
        media, _created = InboundMedia.objects.get_or_create(
            message=message, ref=item["ref"][:1000], defaults={"mime": item.get("mime", "")[:100]})
        if media.state != InboundMedia.State.PENDING:
            continue
        photo = message.kind == InboundMessage.Kind.IMAGE
        limit = settings.RASAD_PHOTO_MAX_BYTES if photo else settings.RASAD_CHANNEL_MEDIA_MAX_BYTES
        try:
            file = provider.media_fetch(media.ref, limit=limit)
        except MediaRefused as exc:
            _media_fail(media, str(exc))
            continue
        except MediaTemporarilyUnavailable as exc:
            media.attempts += 1
            media.error = str(exc)[:300]
            if media.attempts >= MEDIA_MAX_ATTEMPTS:
                _media_fail(media, str(exc))
                continue
            media.save(update_fields=["attempts", "error"])
            raise
        media.attempts += 1
        if photo:
            try:
                clean = photo_clean(file.content, name=f"photo-{media.pk}")
            except PhotoRejected as exc:
                _media_fail(media, exc.message)
                continue
            media.is_photo, media.mime = True, "image/jpeg"
            if clean.gps:
                media.gps_lon, media.gps_lat = clean.gps
            content = clean.image
        else:
            content = file.content
            media.mime = (file.mime or media.mime)[:100]
        media.file.save("file", ContentFile(content), save=False)
        media.size, media.state, media.error = len(content), InboundMedia.State.READY, ""
        media.save()


def _media_fail(media: InboundMedia, reason: str) -> None:
    media.state, media.error = InboundMedia.State.FAILED, reason[:300]
    media.save(update_fields=["state", "error", "attempts"])


# -- The outbox ------------------------------------------------------------------------------

def replies_queue(*, contact: ChannelContact, replies: list[Reply], language: str,
                  kind: str, key: str, reply_to: str = "", subject: str = "") -> list[int]:
    """Write answers to the outbox, once per `key` however often this runs."""
    now = timezone.now()
    rows = [Notification(contact=contact, kind=kind, channel=contact.provider,
                         recipient=contact.external_id, language=language,
                         subject=(subject or texts.reply_subject())[:300], body=reply.text,
                         options=reply.options, reply_to=reply_to[:300],
                         dedupe_key=f"{key}:{index}"[:120], next_attempt_at=now)
            for index, reply in enumerate(replies)]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return list(Notification.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows])
                .values_list("pk", flat=True))


def contact_outbox_send(*, contact_id: int) -> int:
    """Send the contact's due answers in the order they were written."""
    from incidents.services.notify import notification_send

    ids = list(Notification.objects.filter(contact_id=contact_id,
                                           state=Notification.State.PENDING,
                                           next_attempt_at__lte=timezone.now())
               .exclude(kind=Notification.Kind.STATUS).order_by("pk")
               .values_list("pk", flat=True)[:50])
    for notification_id in ids:
        notification_send(notification_id=notification_id)
    return len(ids)


# -- The inbox -------------------------------------------------------------------------------

def inbox_add(*, contact: ChannelContact, reason: str, conversation: Conversation | None = None,
              messages=(), text: str = "", category=None, lon: float | None = None,
              lat: float | None = None, address: str = "", language: str = "") -> InboxItem:
    """Put messages before the verification team: the contact's open item, or a new one."""
    item = (InboxItem.objects.select_for_update().filter(contact=contact,
                                                          state=InboxItem.State.OPEN).first())
    if item is None:
        item = InboxItem.objects.create(
            contact=contact, conversation=conversation, reason=reason, text=text,
            category=category, lon=lon, lat=lat, address=address[:300],
            language=language or contact.language or "en")
    else:
        fields = ["updated_at"]
        if text and text not in item.text:
            item.text = f"{item.text}\n{text}".strip()
            fields.append("text")
        for name, value in (("category", category), ("lon", lon), ("lat", lat),
                            ("conversation", conversation)):
            if value is not None and getattr(item, name) is None:
                setattr(item, name, value)
                fields.append(name)
        if address and not item.address:
            item.address = address[:300]
            fields.append("address")
        if reason != InboxItem.Reason.UNSUPPORTED and item.reason == InboxItem.Reason.UNSUPPORTED:
            item.reason = reason
            fields.append("reason")
        item.save(update_fields=fields)
    ids = [m.pk for m in messages]
    for message in messages:  # the caller saves them later: they must say it too
        if message.inbox_item_id is None:
            message.inbox_item = item
    if conversation is not None:
        ids += list(conversation.messages.values_list("pk", flat=True))
    InboundMessage.objects.filter(pk__in=ids, inbox_item__isnull=True).update(inbox_item=item)
    event_publish_on_commit(kind="inbox.updated", inbox_id=item.pk, reason=item.reason,
                            provider=contact.provider)
    return item


# -- Handling one message --------------------------------------------------------------------

def _flooded(contact: ChannelContact, message: InboundMessage) -> bool:
    limit = (settings.RASAD_EMAIL_FLOOD_PER_HOUR if contact.provider == "email"
             else settings.RASAD_CHANNEL_MESSAGES_PER_HOUR)
    recent = InboundMessage.objects.filter(
        contact=contact, received_at__gte=message.received_at - timedelta(hours=1),
        received_at__lte=message.received_at, pk__lt=message.pk).count()
    return recent >= limit


def _conversation_open(contact: ChannelContact, now) -> Conversation | None:
    conversation = (Conversation.objects.select_for_update()
                    .filter(contact=contact, closed_at__isnull=True).first())
    if conversation is not None and now - conversation.last_activity_at > conversation_idle_limit():
        conversation_expire(conversation=conversation, now=now)
        return None
    return conversation


def _conversation_cancel(contact: ChannelContact, now) -> None:
    conversation = _conversation_open(contact, now)
    if conversation is not None:
        conversation.state, conversation.closed_at = S.CANCELLED, now
        conversation.save(update_fields=["state", "closed_at"])


def conversation_expire(*, conversation: Conversation, now=None) -> None:
    """A conversation left unanswered: what it gathered goes to the inbox (nothing a
    citizen sent is dropped), and the citizen is told."""
    from incidents.models import Category

    now = now or timezone.now()
    data = conversation.data
    substance = any(data.get(k) for k in ("description", "photos", "lon", "category"))
    conversation.state, conversation.closed_at = S.EXPIRED, now
    conversation.save(update_fields=["state", "closed_at"])
    if not substance:
        return
    contact = conversation.contact
    inbox_add(contact=contact, reason=InboxItem.Reason.EXPIRED, conversation=conversation,
              text=data.get("description", ""),
              category=Category.objects.filter(code=data.get("category") or "").first(),
              lon=data.get("lon"), lat=data.get("lat"), address=data.get("address", ""),
              language=conversation.language)
    with translation.override(conversation.language or "en"):
        replies_queue(contact=contact, replies=[Reply(texts.expired())],
                      language=conversation.language or "en",
                      kind=Notification.Kind.DIALOGUE, key=f"expired{conversation.pk}")


def _status_reply_report(contact: ChannelContact, message: InboundMessage, now) -> Report | None:
    """The report a message answers: the status message it quotes, or the last one sent to
    this contact within RASAD_CHANNEL_REPLY_HOURS."""
    sent = Notification.objects.filter(contact=contact, kind=Notification.Kind.STATUS,
                                       report__isnull=False).select_related("report")
    if message.reply_to:
        quoted = sent.filter(provider_message_id=message.reply_to).first()
        if quoted is not None:
            return quoted.report
    if message.choice.startswith(("fixed:", "broken:")):
        report = Report.objects.filter(tracking_code=message.choice.split(":", 1)[1],
                                       contact=contact).first()
        if report is not None:
            return report
    recent = (sent.filter(sent_at__gte=now - timedelta(hours=settings.RASAD_CHANNEL_REPLY_HOURS))
              .order_by("-sent_at").first())
    return recent.report if recent else None


def _status_reply(contact: ChannelContact, message: InboundMessage, report: Report,
                  command: str | None, provider) -> list[Reply]:
    """A citizen answers a status message: "fixed", "still broken" (reopens it within the
    reopen window), or anything else, added to the report as a public update."""
    from incidents.services import incident_note_add
    from incidents.services.feedback import report_confirm_fix, report_reopen
    from incidents.services.intake import report_photos_add

    incident = report.incident
    channel = str(provider_label(provider))
    number = texts.number_of(message.text)
    finished = incident.status in (Status.RESOLVED, Status.CLOSED)
    wants_fixed = message.choice.startswith("fixed:") or command == "fixed" or (
        finished and number == 1)
    wants_reopen = message.choice.startswith("broken:") or command == "broken" or (
        finished and number == 2)
    try:
        if wants_fixed:
            report_confirm_fix(report=report)
            return [Reply(texts.reply_confirmed(report.tracking_code))]
        if wants_reopen:
            text = "" if (message.choice or number) else message.text.strip()
            report_reopen(report=report, reason=texts.reopen_reason(channel, text[:900]))
            return [Reply(texts.reply_reopened(report.tracking_code))]
    except (Conflict, ValidationFailed) as exc:
        return [Reply(texts.reply_refused(exc.message))]
    added = False
    if message.text.strip():
        incident_note_add(incident=incident, by=None, public=True,
                          note=texts.reporter_added(channel, message.text.strip()[:3000]))
        added = True
    photos = [media_content(m) for m in message.files.filter(state=InboundMedia.State.READY,
                                                             is_photo=True)]
    if photos:
        report_photos_add(report=report, contents=photos)
        if not added:
            incident_note_add(incident=incident, by=None, public=True,
                              note=texts.reporter_added_photo(channel))
        added = True
    if not added:
        return [Reply(texts.unsupported())]
    message.report = report
    return [Reply(texts.reply_attached(report.tracking_code))]


def provider_label(provider) -> str:
    from incidents.models import Channel

    return str(Channel(provider.channel).label)


def message_handle(*, contact: ChannelContact, message: InboundMessage, provider) -> list[Reply]:
    """Everything one message causes, in the caller's transaction. Returns the answers."""
    now = timezone.now()
    if contact.blocked:
        message.state = InboundMessage.State.BLOCKED
        return []
    if _flooded(contact, message):
        message.state = InboundMessage.State.FLOOD
        return []
    message.state = InboundMessage.State.DONE
    command = (texts.command_of(message.text)
               if message.kind in (InboundMessage.Kind.TEXT, InboundMessage.Kind.CHOICE) else None)
    if provider.confirms_opt_out:
        # The carrier decides what opts out (its OptOutType says so when it tells us).
        opt_out = str((message.payload or {}).get("OptOutType", "")).upper()
        command = {"STOP": "stop", "START": "start"}.get(opt_out) or (
            "stop" if command == "cancel" else command)
    # "إلغاء" is answered in Arabic and "لغو" in Persian; a Latin STOP in the contact's own.
    said_in = (texts.language_detect(message.text)
               if command and not message.text.isascii() else None)
    language = said_in or contact.language or texts.language_detect(message.text) or \
        texts.language_from_hint(contact.language_hint) or "en"
    if command == "stop":
        ChannelContact.objects.filter(pk=contact.pk).update(opted_out_at=now)
        _conversation_cancel(contact, now)
        if provider.confirms_opt_out:
            return []
        with translation.override(language):
            return [Reply(texts.stopped())]
    if command == "cancel":
        _conversation_cancel(contact, now)
        with translation.override(language):
            return [Reply(texts.cancelled())]
    if command == "start" and contact.opted_out_at is not None:
        ChannelContact.objects.filter(pk=contact.pk).update(opted_out_at=None)
        if provider.confirms_opt_out:
            return []
        with translation.override(language):
            return [Reply(texts.started())]
    if command == "alerts":
        from incidents.services.alerts import alert_subscription_from_channel

        with translation.override(language):
            return [Reply(alert_subscription_from_channel(contact=contact, language=language))]
    conversation = _conversation_open(contact, now)
    if conversation is None or message.choice.startswith(SURVEY_CHOICE):
        # A survey's answer first: its buttons at any time, a number or a word while it asks.
        replies = survey_reply(contact=contact, message=message, via=provider_label(provider),
                               now=now)
        if replies is not None:
            return replies
    if conversation is None:
        if message.kind == InboundMessage.Kind.COMMENT:
            inbox_add(contact=contact, reason=InboxItem.Reason.COMMENT, messages=[message],
                      text=message.text, language=texts.language_detect(message.text) or "")
            return []
        if command != "new":
            report = _status_reply_report(contact, message, now)
            if report is not None:
                with translation.override(report.language or language):
                    return _status_reply(contact, message, report, command, provider)
            item = InboxItem.objects.filter(
                contact=contact, state=InboxItem.State.OPEN,
                updated_at__gte=now - timedelta(hours=settings.RASAD_CHANNEL_REPLY_HOURS)).first()
            if item is not None and command is None:
                inbox_add(contact=contact, reason=item.reason, messages=[message],
                          text=message.text.strip())
                with translation.override(item.language or language):
                    return [Reply(texts.added_for_team())]
        conversation = Conversation.objects.create(
            contact=contact, language=contact.language, started_at=now, last_activity_at=now,
            state=S.LANGUAGE if not contact.language else S.CATEGORY,
            data={"greeted": False})
    message.conversation = conversation
    dialogue = Dialogue(contact=contact, message=message, conversation=conversation,
                        provider=provider, now=now)
    dialogue.step()
    conversation.last_activity_at = now
    conversation.save()
    if conversation.language and conversation.language != contact.language:
        ChannelContact.objects.filter(pk=contact.pk).update(language=conversation.language)
        contact.language = conversation.language
    return dialogue.replies


def _message_give_up(contact: ChannelContact, message: InboundMessage) -> list[Reply]:
    """The dialogue failed on this message several times (a bug, data it cannot handle):
    it goes to the inbox for a person, and the contact's next messages are handled."""
    logger.error("inbound message %s failed %s times; handed to the inbox", message.pk,
                 message.attempts - 1)
    message.state = InboundMessage.State.DONE
    message.error = "the dialogue failed on it"
    conversation = (Conversation.objects.select_for_update()
                    .filter(contact=contact, closed_at__isnull=True).first())
    if conversation is not None:  # what it gathered may be what fails: people take it over
        conversation.state, conversation.closed_at = S.INBOX, timezone.now()
        conversation.save(update_fields=["state", "closed_at"])
    item = inbox_add(contact=contact, reason=InboxItem.Reason.FAILED, messages=[message],
                     conversation=conversation, text=message.text, language=contact.language)
    message.inbox_item = item
    with translation.override(contact.language or "en"):
        return [] if contact.blocked else [Reply(texts.handed_to_person())]


def contact_process(*, contact_id: int) -> int:
    """Handle the contact's pending messages, oldest first; then send its answers.
    Idempotent: a message is handled once, under the contact's lock, in one transaction
    with its state."""
    contact = ChannelContact.objects.filter(pk=contact_id).first()
    if contact is None:
        return 0
    provider = provider_get(contact.provider)
    handled = 0
    while True:
        message = (InboundMessage.objects.filter(contact_id=contact_id,
                                                 state=InboundMessage.State.PENDING)
                   .order_by("sent_at", "pk").first())
        if message is None:
            break
        media_prepare(message, provider)
        # Counted outside the step's transaction, which a failure rolls back: a message the
        # dialogue keeps failing on goes to people instead of blocking the contact forever.
        InboundMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
        with transaction.atomic():
            _contact_lock(contact_id)
            message = (InboundMessage.objects.select_for_update()
                       .filter(pk=message.pk, state=InboundMessage.State.PENDING).first())
            if message is None:
                continue
            contact = ChannelContact.objects.get(pk=contact_id)
            if message.attempts > MESSAGE_MAX_ATTEMPTS:
                replies = _message_give_up(contact, message)
            else:
                replies = message_handle(contact=contact, message=message, provider=provider)
            message.processed_at = timezone.now()
            message.save(update_fields=["state", "processed_at", "conversation", "report",
                                        "inbox_item", "error"])
            if replies:
                language = contact.language or "en"
                replies_queue(contact=contact, replies=replies, language=language,
                              kind=Notification.Kind.DIALOGUE, key=f"m{message.pk}",
                              reply_to=message.external_id if provider.name == "email" else "",
                              subject=_reply_subject(message))
        handled += 1
        provider.acknowledge(message)
    contact_outbox_send(contact_id=contact_id)
    return handled


def _reply_subject(message: InboundMessage) -> str:
    subject = (message.payload or {}).get("subject") if message.provider == "email" else ""
    return f"Re: {subject}" if subject else ""


def inbound_stale_contacts(*, older_than: timedelta = timedelta(minutes=1),
                           limit: int = 500) -> list[int]:
    """Contacts with messages still pending: their task was lost, or is retrying."""
    cutoff = timezone.now() - older_than
    return list(InboundMessage.objects.filter(state=InboundMessage.State.PENDING,
                                              received_at__lte=cutoff)
                .order_by().values_list("contact_id", flat=True).distinct()[:limit])


def conversations_expire_idle(*, limit: int = 500) -> int:
    cutoff = timezone.now() - conversation_idle_limit()
    ids = list(Conversation.objects.filter(closed_at__isnull=True, last_activity_at__lt=cutoff)
               .values_list("pk", "contact_id")[:limit])
    for conversation_id, contact_id in ids:
        with transaction.atomic():
            _contact_lock(contact_id)  # first, as when a message is handled
            conversation = (Conversation.objects.select_for_update().select_related("contact")
                            .filter(pk=conversation_id, closed_at__isnull=True,
                                    last_activity_at__lt=cutoff).first())
            if conversation is None:
                continue
            conversation_expire(conversation=conversation)
        contact_outbox_send(contact_id=contact_id)
    return len(ids)
