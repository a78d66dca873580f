"""Reads for the verification inbox and the call-taker's desk. Staff only: these return
citizens' contacts, which public selectors never do."""

from django.db.models import Count, Prefetch, Q, QuerySet

from incidents.models import (
    OPEN_STATUSES,
    ChannelContact,
    InboundMedia,
    InboundMessage,
    InboxItem,
    Report,
)

HISTORY_LIMIT = 50


def inbox_list(*, state: str = InboxItem.State.OPEN, provider: str = "",
               query: str = "") -> QuerySet[InboxItem]:
    """Newest activity first."""
    items = (InboxItem.objects.select_related("contact", "category", "report", "handled_by")
             .annotate(message_count=Count("messages", distinct=True),
                       photo_count=Count("messages__files", distinct=True,
                                         filter=Q(messages__files__is_photo=True,
                                                  messages__files__state="ready"))))
    if state != "all":
        items = items.filter(state=state)
    if provider:
        items = items.filter(contact__provider=provider)
    if query:
        items = items.filter(Q(text__icontains=query) | Q(contact__display_name__icontains=query)
                             | Q(contact__phone__contains=query)
                             | Q(contact__external_id__icontains=query))
    return items.order_by("-updated_at", "-pk")


def inbox_item_get(item_id: int) -> InboxItem | None:
    files = Prefetch("files", queryset=InboundMedia.objects.order_by("pk"))
    messages = Prefetch("messages", queryset=InboundMessage.objects.order_by("sent_at", "pk")
                        .prefetch_related(files))
    return (InboxItem.objects.select_related("contact", "category", "report", "handled_by",
                                             "conversation")
            .prefetch_related(messages).filter(pk=item_id).first())


def contact_reports(*, contacts: list[ChannelContact], phone: str = "") -> QuerySet[Report]:
    """A citizen's reports: those filed from their channel accounts, and by phone number."""
    lookup = Q(contact__in=contacts)
    if phone:
        lookup |= Q(reporter_phone=phone)
    return (Report.objects.filter(lookup).select_related("category", "incident")
            .order_by("-created_at")[:HISTORY_LIMIT])


def contact_inbox_history(*, contacts: list[ChannelContact],
                          exclude: int | None = None) -> QuerySet[InboxItem]:
    return (InboxItem.objects.filter(contact__in=contacts).exclude(pk=exclude)
            .order_by("-created_at")[:HISTORY_LIMIT])


def contacts_by_phone(phone: str) -> list[ChannelContact]:
    """Every channel account of one phone number (SMS, WhatsApp…)."""
    return list(ChannelContact.objects.filter(Q(phone=phone) |
                                              Q(provider="sms", external_id=phone) |
                                              Q(provider="whatsapp",
                                                external_id=phone.lstrip("+"))))


def reports_open(reports) -> list[Report]:
    return [r for r in reports if r.incident.status in OPEN_STATUSES]
