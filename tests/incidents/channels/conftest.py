"""Channel tests: the providers' webhooks driven through Django's test client with payloads
built as the providers document them (fixtures.channel_payloads), the worker's processing
called as the worker calls it, and answers sent to the fake providers on 127.0.0.1."""

import pytest
from django.conf import settings

from fixtures import channel_payloads as p
from fixtures.factories import CategoryAttributeFactory, CategoryFactory
from incidents.channels.process import contact_process
from incidents.models import CategoryAttribute, ChannelContact, InboundMessage

WA_ID = "358401234567"
SIZES = [{"key": "small", "name_en": "Small", "name_ar": "صغيرة", "name_fa": "کوچک"},
         {"key": "large", "name_en": "Large", "name_ar": "كبيرة", "name_fa": "بزرگ"}]


@pytest.fixture
def pothole(category):
    """The pothole category asks one required question, its size."""
    CategoryAttributeFactory(category=category, code="size", required=True,
                             datatype=CategoryAttribute.Datatype.SINGLE,
                             description_en="How big is it?", description_ar="ما حجمها؟",
                             description_fa="اندازه‌اش چقدر است؟", values=SIZES)
    return category


@pytest.fixture
def street_light(department):
    return CategoryFactory(code="street-light", department=department,
                           name_en="Street light out", name_ar="عمود إنارة معطل",
                           name_fa="چراغ خیابان خاموش", cluster_radius_m=40)


@pytest.fixture
def channel_city(city, district, district_east, pothole, street_light):
    return city


def post_whatsapp(client, payload: dict, *, secret: str | None = None):
    body, headers = p.signed_json(payload, secret or settings.RASAD_WHATSAPP_APP_SECRET)
    return client.post("/channels/whatsapp/webhook", data=body,
                       content_type="application/json",
                       headers={"X-Hub-Signature-256": headers["X-Hub-Signature-256"]})


def process_all() -> int:
    """What the worker does for every contact with pending messages."""
    handled = 0
    for contact_id in set(InboundMessage.objects.filter(state="pending")
                          .values_list("contact_id", flat=True)):
        handled += contact_process(contact_id=contact_id)
    return handled


def whatsapp_say(client, payload: dict) -> None:
    """A citizen's message delivered and handled, as the webhook and the worker do it."""
    assert post_whatsapp(client, payload).status_code == 200
    process_all()


def contact(provider: str, external_id: str) -> ChannelContact:
    return ChannelContact.objects.get(provider=provider, external_id=external_id)


def texts_sent(fake, provider: str) -> list[str]:
    """The text of each message sent, whatever its shape on that provider."""
    out = []
    for sent in fake.sent_to(provider):
        body = sent.get("body", {})
        if provider == "whatsapp":
            if body.get("type") == "text":
                out.append(body["text"]["body"])
            elif body.get("type") == "interactive":
                out.append(body["interactive"]["body"]["text"])
            else:
                out.append(f"template:{body['template']['name']}")
        elif provider in ("telegram", "bale"):
            out.append(body.get("text", ""))
        elif provider == "sms":
            out.append(body.get("Body", ""))
        elif provider == "messenger":
            out.append(body.get("message", {}).get("text", ""))
    return out
