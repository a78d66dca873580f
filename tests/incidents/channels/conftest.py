"""Channel tests: the providers' webhooks driven through Django's test client with payloads
built as the providers document them (fixtures.channel_payloads), the worker's processing
called as the worker calls it, and answers sent to the fake providers on 127.0.0.1."""

from pathlib import Path

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


def street_names_osm(path: Path) -> Path:
    """Three named streets over the test city: two crossing at (24.9300, 60.1700), one
    with Arabic and Persian names."""
    nodes = {1: (60.1650, 24.9300), 2: (60.1700, 24.9300), 3: (60.1750, 24.9300),
             4: (60.1700, 24.9250), 5: (60.1700, 24.9350), 6: (60.1720, 24.9450),
             7: (60.1720, 24.9550)}
    ways = [(1, [1, 2, 3], {"name": "Mannerheimintie", "name:sv": "Mannerheimvägen"}),
            (2, [4, 2, 5], {"name": "Simonkatu"}),
            (3, [6, 7], {"name": "Palm Street", "name:ar": "شارع النخيل",
                         "name:fa": "خیابان نخل"})]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    lines += [f'<node id="{n}" version="1" lat="{lat}" lon="{lon}"/>'
              for n, (lat, lon) in nodes.items()]
    for way_id, refs, tags in ways:
        lines.append(f'<way id="{way_id}" version="1">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines.append('<tag k="highway" v="residential"/>')
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def streets(tmp_path):
    from gis.roads import roads_import

    return roads_import(path=street_names_osm(tmp_path / "streets.osm"))


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
