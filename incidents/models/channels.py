"""Citizens on messaging channels: who they are there, what they sent, the conversation that
turns messages into a report, and the inbox where people take over what a bot could not.

Everything a citizen sends is stored before anything else happens to it, and never deleted:
a message the dialogue could not use ends in the verification inbox, a blocked sender's
messages stay here for staff only."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Provider(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp")
    TELEGRAM = "telegram", _("Telegram")
    BALE = "bale", _("Bale")
    MESSENGER = "messenger", _("Facebook Messenger")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("email")


class ChannelContact(models.Model):
    """A citizen's account on one provider: a WhatsApp number, a Telegram chat, a Messenger
    page-scoped id, a phone number for SMS, an email address. Private: never in public
    output."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    # The provider's id of the sender: wa_id, chat id, PSID, E.164 number, email address.
    external_id = models.CharField(max_length=254)
    display_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text=_("E.164, where known."))
    language = models.CharField(max_length=5, blank=True)
    # The provider's language hint (Telegram's language_code), used until the citizen's own.
    language_hint = models.CharField(max_length=10, blank=True)
    blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    # Set by STOP: no status messages go to this contact until START.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # The last message from the citizen: WhatsApp and Messenger allow free text for 24 hours
    # after it, templates or tags only afterwards.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("channel contact")
        verbose_name_plural = _("channel contacts")
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"],
                                    name="contact_unique_per_provider"),
        ]
        indexes = [models.Index(fields=["phone"], name="contact_phone",
                                condition=~models.Q(phone=""))]

    def __str__(self) -> str:
        return f"{self.provider} contact #{self.pk}"


class Conversation(models.Model):
    """One dialogue with a contact, stored after every step so that it resumes where it
    stopped. At most one is open per contact (conversation_one_open_per_contact)."""

    class State(models.TextChoices):
        LANGUAGE = "language", _("asking the language")
        CATEGORY = "category", _("asking the category")
        QUESTION = "question", _("asking the category's questions")
        LOCATION = "location", _("asking the location")
        ME_TOO = "me_too", _("offering to join an open incident")
        PHOTO = "photo", _("asking for a photo")
        CONFIRM = "confirm", _("asking to confirm")
        FILED = "filed", _("report filed")
        INBOX = "inbox", _("handed to the verification team")
        CANCELLED = "cancelled", _("cancelled by the citizen")
        EXPIRED = "expired", _("timed out")

    OPEN_STATES = (State.LANGUAGE, State.CATEGORY, State.QUESTION, State.LOCATION,
                   State.ME_TOO, State.PHOTO, State.CONFIRM)

    contact = models.ForeignKey(ChannelContact, on_delete=models.PROTECT,
                                related_name="conversations")
    state = models.CharField(max_length=12, choices=State.choices, default=State.LANGUAGE)
    language = models.CharField(max_length=5, blank=True)
    # What the citizen has told so far: category, answers, lon/lat, address, description,
    # photo (inbound media) ids, and what the dialogue asked last. See incidents.channels.
    data = models.JSONField(default=dict, blank=True)
    report = models.ForeignKey("Report", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    started_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact"], condition=models.Q(closed_at__isnull=True),
                                    name="conversation_one_open_per_contact"),
        ]
        indexes = [models.Index(fields=["last_activity_at"], name="conversation_open_idle",
                                condition=models.Q(closed_at__isnull=True))]

    def __str__(self) -> str:
        return f"conversation #{self.pk} ({self.state})"


class InboxItem(models.Model):
    """What the verification team must look at: messages that could not become a report on
    their own. An agent files a report from it, or closes it with an answer."""

    class Reason(models.TextChoices):
        NO_LOCATION = "no_location", _("no location")
        NO_CATEGORY = "no_category", _("no category")
        UNSUPPORTED = "unsupported", _("a kind of message the bot cannot read")
        COMMENT = "comment", _("a comment on the city's page")
        EXPIRED = "expired", _("the conversation stopped")
        ASKED_FOR_PERSON = "person", _("asked for a person")
        MEDIA_FAILED = "media_failed", _("a photo could not be fetched")
        OUTSIDE_AREA = "outside_area", _("outside the service area")
        FAILED = "failed", _("the bot failed on it")

    class State(models.TextChoices):
        OPEN = "open", _("waiting for an agent")
        FILED = "filed", _("filed as a report")
        SPAM = "spam", _("spam")
        DUPLICATE = "duplicate", _("already reported")
        ANSWERED = "answered", _("answered, not a report")

    CLOSED_STATES = (State.SPAM, State.DUPLICATE, State.ANSWERED)

    contact = models.ForeignKey(ChannelContact, on_delete=models.PROTECT,
                                related_name="inbox_items")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="inbox_items")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    language = models.CharField(max_length=5, default="en")
    # What the conversation gathered, for the agent to start from.
    text = models.TextField(blank=True)
    category = models.ForeignKey("Category", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    lon = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=300, blank=True)
    report = models.ForeignKey("Report", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    reply = models.TextField(blank=True)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("inbox item")
        verbose_name_plural = _("inbox items")
        indexes = [models.Index(fields=["state", "-updated_at"], name="inbox_state_updated")]
        constraints = [
            # New messages of a contact join its open item instead of opening another.
            models.UniqueConstraint(fields=["contact"], condition=models.Q(state="open"),
                                    name="inbox_one_open_per_contact"),
        ]

    def __str__(self) -> str:
        return f"inbox item #{self.pk} ({self.reason}, {self.state})"


class InboundMessage(models.Model):
    """One message as the provider delivered it, stored by the webhook before anything else
    is done with it; (provider, external_id) makes a redelivery a no-op."""

    class Kind(models.TextChoices):
        TEXT = "text", _("text")
        IMAGE = "image", _("photo")
        LOCATION = "location", _("location")
        CHOICE = "choice", _("button or list reply")
        COMMENT = "comment", _("comment on a post")
        UNSUPPORTED = "unsupported", _("a kind the bot cannot read")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for the dialogue")
        DONE = "done", _("handled")
        BLOCKED = "blocked", _("from a blocked sender")
        FLOOD = "flood", _("over the sender's limit")
        IGNORED = "ignored", _("automatic mail, not answered")

    provider = models.CharField(max_length=20, choices=Provider.choices)
    external_id = models.CharField(max_length=300)
    contact = models.ForeignKey(ChannelContact, on_delete=models.PROTECT,
                                related_name="messages")
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="messages")
    report = models.ForeignKey("Report", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    inbox_item = models.ForeignKey(InboxItem, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="messages")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # The provider's own type name ("sticker", "audio"…), kept for staff.
    provider_type = models.CharField(max_length=40, blank=True)
    text = models.TextField(blank=True)
    choice = models.CharField(max_length=200, blank=True)
    lon = models.FloatField(null=True, blank=True)
    lat = models.FloatField(null=True, blank=True)
    # [{"ref": "<media id, file_id or URL>", "mime": "image/jpeg", "size": 1234}]
    media = models.JSONField(default=list, blank=True)
    # The provider's id of the message this one answers (WhatsApp context, In-Reply-To…).
    reply_to = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"],
                                    name="inbound_once_per_provider_id"),
        ]
        indexes = [
            models.Index(fields=["contact", "received_at"], name="inbound_contact_time"),
            models.Index(fields=["received_at"], name="inbound_pending",
                         condition=models.Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} #{self.pk} ({self.state})"


def private_storage():
    """Where citizens' files wait until staff file them (never under the public /media/)."""
    from django.core.files.storage import storages

    return storages["private"]


def inbound_media_path(instance: "InboundMedia", filename: str) -> str:
    return f"inbound/{instance.message.contact_id}/{uuid.uuid4().hex}{instance.extension}"


class InboundMedia(models.Model):
    """A file a citizen sent, fetched from the provider by a worker and kept privately
    (served to staff only; a report gets its own cleaned copy). Photos are stored already
    cleaned: orientation applied, metadata dropped, the EXIF position kept aside."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be fetched")
        READY = "ready", _("ready")
        FAILED = "failed", _("could not be fetched")

    message = models.ForeignKey(InboundMessage, on_delete=models.PROTECT, related_name="files")
    ref = models.CharField(max_length=1000)
    mime = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    file = models.FileField(upload_to=inbound_media_path, blank=True,
                            storage=private_storage)
    size = models.PositiveIntegerField(default=0)
    is_photo = models.BooleanField(default=False)
    gps_lon = models.FloatField(null=True, blank=True)
    gps_lat = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "ref"], name="inbound_media_once"),
        ]

    def __str__(self) -> str:
        return f"media #{self.pk} of message {self.message_id} ({self.state})"

    @property
    def extension(self) -> str:
        if self.is_photo:
            return ".jpg"
        return {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/aac": ".aac",
                "audio/amr": ".amr", "video/mp4": ".mp4", "image/webp": ".webp",
                "application/pdf": ".pdf"}.get(self.mime.split(";")[0].strip(), ".bin")
