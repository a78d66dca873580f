"""The verification inbox in a real Chromium against a real ASGI server (HTTP + websockets):
an intake agent files a report from a WhatsApp message the bot could not file, attaches a
citizen to an open incident ("me too"), answers or closes items that are no report, sees new
items arrive live; managers only read; Arabic is right-to-left.

Inbox items are made the real way: a signed WhatsApp webhook is posted to the server, and the
worker's processing (incidents.channels.process.contact_process) runs in the test process, so
the dialogue talks to the citizen (through the fake providers) and hands the conversation to
the inbox. Each test loads the demo city and its users (fixtures.city) and a few named
streets (gis.roads.roads_import of a tiny .osm) for the street search."""

import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from fixtures import channel_payloads as p
from fixtures.city import demo_city_load, demo_users_load
from gis.models import Street
from gis.roads import roads_import
from incidents.channels.process import contact_process
from incidents.models import (
    ChannelContact,
    InboundMessage,
    InboxItem,
    Incident,
    Notification,
    Report,
)
from tests.conftest import jpeg_bytes
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT = ("agent", "rasad-agent")
MANAGER = ("manager", "rasad-manager")
LEILA = "358401234567"
OMAR = "358409876543"
LAMP = "the street lamp by the school is dark"
READY = "document.body.dataset.listReady === 'true' && document.body.dataset.live === 'live'"
# Inside the demo city (central Helsinki, about 24.934..24.954 E and 60.163..60.180 N): two
# streets crossing at (24.9440, 60.1700), and one named in Arabic and Persian too.
STREETS = [
    ("Koulukatu", {}, [(24.9380, 60.1700), (24.9410, 60.1700), (24.9440, 60.1700),
                       (24.9470, 60.1700)]),
    ("Kaivokatu", {}, [(24.9440, 60.1660), (24.9440, 60.1680), (24.9440, 60.1700),
                       (24.9440, 60.1740)]),
    ("Palm Street", {"name:ar": "شارع النخيل", "name:fa": "خیابان نخل"},
     [(24.9390, 60.1750), (24.9420, 60.1750), (24.9450, 60.1750)]),
]


def streets_write(path: Path) -> Path:
    """The named streets as OSM XML."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    ways = []
    node_id = 0
    for way_id, (name, tags, points) in enumerate(STREETS, start=1):
        refs = []
        for lon, lat in points:
            node_id += 1
            refs.append(node_id)
            lines.append(f'  <node id="{node_id}" version="1" lat="{lat:.6f}" lon="{lon:.6f}"/>')
        ways.append((way_id, refs, {"highway": "residential", "name": name, **tags}))
    # The crossing is one node shared by both streets.
    crossing = 3
    ways[1][1][2] = crossing
    for way_id, refs, tags in ways:
        lines.append(f'  <way id="{way_id}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    """Close the pages and let the server finish what they asked for before the test
    database is flushed: a TRUNCATE racing a request's transaction can deadlock. Looked at
    twice: a request the page sent as it closed may reach the database only just after the
    first look."""
    yield
    pages_close_and_wait_quiet(desk)
    time.sleep(0.3)
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def demo(asgi_server, tmp_path, fake_providers):
    area = demo_city_load()
    demo_users_load()
    roads_import(path=streets_write(tmp_path / "streets.osm"))
    return {"area": area, "fake": fake_providers}


def citizen_says(base: str, payload: dict) -> None:
    """A WhatsApp message delivered to the server's webhook, then handled as the worker
    handles it (the dialogue, the inbox, the answers sent to the fake providers)."""
    body, headers = p.signed_json(payload, settings.RASAD_WHATSAPP_APP_SECRET)
    response = httpx.post(f"{base}/channels/whatsapp/webhook", content=body, timeout=10,
                          headers={"Content-Type": "application/json",
                                   "X-Hub-Signature-256": headers["X-Hub-Signature-256"]})
    assert response.status_code == 200, response.text
    for contact_id in set(InboundMessage.objects.filter(state="pending")
                          .values_list("contact_id", flat=True)):
        contact_process(contact_id=contact_id)


def lamp_with_a_photo(base: str, fake, wa_id: str = LEILA, name: str = "Leila") -> None:
    """A lamp described and a photo sent: the bot asks for the category."""
    photo = fake.media_put(jpeg_bytes(size=(160, 120), color=(30, 30, 60)))
    citizen_says(base, p.wa_text(wa_id, LAMP, name=name))
    citizen_says(base, p.wa_image(wa_id, photo, name=name))


def asks_for_a_person(base: str, wa_id: str = LEILA, name: str = "Leila") -> InboxItem:
    """ "agent": the bot hands the conversation over with what it gathered."""
    citizen_says(base, p.wa_text(wa_id, "agent", name=name))
    return InboxItem.objects.get(contact__external_id=wa_id, state="open")


def lamp_without_a_place(base: str, wa_id: str, name: str) -> InboxItem:
    """The lamp described and its category chosen, then SKIP at the location question."""
    citizen_says(base, p.wa_text(wa_id, LAMP, name=name))
    citizen_says(base, p.wa_list_reply(wa_id, "cat:street-light", "Street light out", name=name))
    citizen_says(base, p.wa_text(wa_id, "SKIP", name=name))
    return InboxItem.objects.get(contact__external_id=wa_id, state="open")


def inbox_open(context, base: str, user=AGENT, language: str | None = None):
    """Signed in, on /console/inbox/ with the list drawn and the socket live. Basemap tiles
    are refused (no internet in tests)."""
    context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    page = context.new_page()
    if language:
        context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    login(page, base, *user)
    page.goto(f"{base}/console/inbox/")
    page.wait_for_function(READY, timeout=15000)
    page.evaluate("window.__notReloaded = true")
    return page


def row(page, item_id: int):
    return page.locator(f'#inbox-list li[data-id="{item_id}"]')


def item_open(page, item_id: int) -> None:
    row(page, item_id).locator("button.ib-open").click()
    page.wait_for_function(f"document.body.dataset.detail === '{item_id}'")


def street_pick(page, typed: str, name: str) -> None:
    page.fill("#place-search", typed)
    page.locator("#place-results button.ib-place").filter(has_text=name).first.click()


def agent_answers(contact: ChannelContact) -> list[str]:
    return list(Notification.objects.filter(contact=contact, kind=Notification.Kind.AGENT)
                .order_by("pk").values_list("body", flat=True))


# --- filing ---------------------------------------------------------------------------------

def test_agent_files_a_report_from_a_whatsapp_message(asgi_server, desk, demo):
    # given: Leila describes a dark lamp on WhatsApp, sends a photo, and asks for a person
    lamp_with_a_photo(asgi_server, demo["fake"])
    item = asks_for_a_person(asgi_server)
    assert (item.reason, item.text, item.lon, item.category) == ("person", LAMP, None, None)
    page = inbox_open(desk, asgi_server)

    # when: the agent opens the newest item
    first = page.locator("#inbox-list li").first
    assert first.get_attribute("data-id") == str(item.pk)
    assert first.locator(".ib-sender").inner_text() == "Leila"
    assert first.locator(".ib-snippet").inner_text() == LAMP
    assert first.locator(".ib-counts").inner_text() == "3 messages · 1 photo"
    item_open(page, item.pk)

    # then: every message in order, the photo from the private media URL, nothing in history
    messages = page.locator("#ib-messages > li")
    assert messages.count() == 3
    assert messages.nth(0).locator(".citizen-text").inner_text() == LAMP
    assert messages.nth(2).locator(".citizen-text").inner_text() == "agent"
    thumb = messages.nth(1).locator(".ib-thumb img")
    media = item.messages.get(kind="image").files.get()
    assert thumb.get_attribute("src") == f"/api/v1/inbox/media/{media.pk}/"
    page.wait_for_function("document.querySelector('#ib-messages .ib-thumb img').naturalWidth === 160")
    assert page.locator("#file-description").input_value() == LAMP
    assert page.locator("#file-photos input[name=photo]:checked").count() == 1
    assert page.locator("#ib-history-body").text_content() == "No reports from this sender yet."
    screenshot(page, "inbox-item")

    # when: a file without place or category is refused in the page
    page.locator("#file-button").click()

    # then
    assert page.locator("#file-error").inner_text() == "The report needs a place and a category."
    assert Report.objects.count() == 0

    # when: they find the street, choose the category, answer its question, and file
    street_pick(page, "koulukatu", "Koulukatu")
    page.wait_for_function("document.body.dataset.pin")
    assert page.locator("#file-address").input_value() == "Koulukatu"
    page.select_option("#file-category", "street-light")
    page.fill("#q-pole_number", "A-17")
    screenshot(page, "inbox-filing")
    page.locator("#file-button").click()
    page.locator("#ib-code").wait_for()

    # then: the report is filed for Leila, who gets the tracking code on WhatsApp
    report = Report.objects.get()
    street = Street.objects.get(name="Koulukatu")
    contact = ChannelContact.objects.get(provider="whatsapp", external_id=LEILA)
    assert page.locator("#ib-code").inner_text() == report.tracking_code
    assert (report.category.code, report.channel, report.contact, report.attributes) == (
        "street-light", "whatsapp", contact, {"pole_number": "A-17"})
    assert (report.description, report.address, report.reporter_phone) == (
        LAMP, "Koulukatu", "+358401234567")
    assert (round(report.location.x, 5), round(report.location.y, 5)) == (
        round(street.point.x, 5), round(street.point.y, 5))
    assert report.photos.count() == 1
    item.refresh_from_db()
    assert (item.state, item.report, item.handled_by.username) == ("filed", report, "agent")
    (answer,) = agent_answers(contact)
    assert f"Tracking code: {report.tracking_code}" in answer
    # the list is read again: the filed item is no longer waiting; the history has the report
    row(page, item.pk).wait_for(state="detached")
    assert page.locator("#ib-state").inner_text() == "filed as a report"
    page.locator("#ib-history summary").filter(has_text="1 report,").wait_for()
    assert page.locator("#ib-history-reports li").get_attribute("data-code") == (
        report.tracking_code)
    screenshot(page, "inbox-filed")


def test_a_shared_location_is_where_the_report_goes(asgi_server, desk, demo):
    # given: Leila shares her location, names the school, and asks for a person
    citizen_says(asgi_server, p.wa_text(LEILA, LAMP, name="Leila"))
    citizen_says(asgi_server, p.wa_location(LEILA, 60.17012, 24.94105, name="School",
                                            address="Koulukatu 3"))
    item = asks_for_a_person(asgi_server)
    assert (item.lon, item.lat, item.address) == (24.94105, 60.17012, "School — Koulukatu 3")
    page = inbox_open(desk, asgi_server)

    # when
    item_open(page, item.pk)

    # then: the pin is on the shared location, marked on the map, its name as the address
    assert page.evaluate("document.body.dataset.pin") == "24.941050,60.170120"
    assert page.evaluate("RasadInbox.map.getCenter().lat.toFixed(5)") == "60.17012"
    location = page.locator("#ib-messages .ib-msg-location")
    assert location.locator(".ib-location").inner_text().strip() == (
        "Location shared: School — Koulukatu 3 60.17012, 24.94105")
    assert location.locator("[data-use]").count() == 1
    assert page.locator("#file-address").input_value() == "School — Koulukatu 3"
    assert page.locator(".leaflet-interactive").count() >= 1  # the shared location's circle

    # when: the agent only chooses the category and files
    page.select_option("#file-category", "street-light")
    page.locator("#file-button").click()
    page.locator("#ib-code").wait_for()

    # then
    report = Report.objects.get()
    assert (round(report.location.x, 5), round(report.location.y, 5)) == (24.94105, 60.17012)
    assert report.address == "School — Koulukatu 3"


def test_me_too_attaches_the_citizen_to_the_open_incident_nearby(asgi_server, desk, demo):
    # given: an open street-light incident on Koulukatu, and Leila's lamp without a place
    response = httpx.post(f"{asgi_server}/api/v1/reports/", timeout=10, json={
        "category": "street-light", "lon": 24.9442, "lat": 60.1701, "channel": "web",
        "language": "en", "description": "Lamp out at the crossing"})
    assert response.status_code == 201, response.text
    incident_id = response.json()["properties"]["incident"]
    item = lamp_without_a_place(asgi_server, LEILA, "Leila")
    assert (item.reason, item.category.code, item.lon) == ("no_location", "street-light", None)
    page = inbox_open(desk, asgi_server)
    item_open(page, item.pk)
    assert page.locator("#file-category").input_value() == "street-light"

    # when: the agent puts the place on the crossing; the open incident is offered
    street_pick(page, "Koulukatu & Kaivokatu", "Koulukatu / Kaivokatu")
    join = page.locator(f'#nearby-list button[data-join="{incident_id}"]')
    join.wait_for()
    assert join.inner_text() == f"Me too: attach to #{incident_id}"
    screenshot(page, "inbox-me-too")
    join.click()
    page.locator("#ib-code").wait_for()

    # then: Leila's report joins it, and she is told so
    report = Report.objects.get(contact__external_id=LEILA)
    assert (report.incident_id, report.joined_existing) == (incident_id, True)
    assert Incident.objects.get(pk=incident_id).report_count == 2
    assert page.locator("#ib-code").inner_text() == report.tracking_code
    (answer,) = agent_answers(report.contact)
    assert answer.startswith("Thank you! You are added to the report of this problem.")


# --- closing --------------------------------------------------------------------------------

def test_agent_answers_a_voice_note_that_is_no_report(asgi_server, desk, demo):
    # given: Omar sends a voice note, which the bot cannot read
    voice = demo["fake"].media_put(b"OggS" + bytes(2000), mime="audio/ogg")
    citizen_says(asgi_server, p.wa_voice(OMAR, voice, name="Omar"))
    item = InboxItem.objects.get(contact__external_id=OMAR)
    assert item.reason == "unsupported"
    page = inbox_open(desk, asgi_server)
    item_open(page, item.pk)

    # then: the voice note is shown as what it is, with a player for the fetched file
    media = item.messages.get().files.get()
    message = page.locator("#ib-messages > li").first
    assert message.locator(".ib-unsupported").inner_text() == "The bot could not read this: audio"
    assert message.locator("audio").get_attribute("src") == f"/api/v1/inbox/media/{media.pk}/"

    # when: the agent closes it as a duplicate of a report that does not exist
    page.locator('#close-form [data-outcome="duplicate"]').click()
    page.fill("#close-duplicate-of", "NOPE-123")
    page.locator("#close-duplicate-button").click()

    # then: the API's refusal is shown beside the field; nothing changed
    error = page.locator('#close-duplicate [data-error-for="duplicate_of"]')
    error.filter(has_text="No report has the tracking code").wait_for()
    assert error.inner_text() == "No report has the tracking code “NOPE-123”."
    assert page.locator("#close-duplicate-button").is_enabled()
    screenshot(page, "inbox-duplicate-refused")
    item.refresh_from_db()
    assert item.state == "open"

    # when: they answer instead, first forgetting the answer
    page.locator('#close-form [data-outcome="answered"]').click()
    page.locator("#close-answered-button").click()
    assert page.locator('#close-answered [data-error-for="reply"]').inner_text() == (
        "Write the answer that goes back to the citizen.")
    reply = "Thanks Omar. Voice notes cannot be filed: please write what and where."
    page.fill("#close-answer", reply)
    page.locator("#close-answered-button").click()
    page.locator("#ib-done").wait_for()

    # then: the item is answered, and the answer is in the outbox for Omar's WhatsApp
    item.refresh_from_db()
    assert (item.state, item.reply, item.handled_by.username) == ("answered", reply, "agent")
    assert agent_answers(item.contact) == [reply]
    assert page.locator("#ib-done h3").inner_text() == "Answered, not a report"
    assert page.locator("#ib-done blockquote").inner_text() == reply
    row(page, item.pk).wait_for(state="detached")
    screenshot(page, "inbox-answered")


def test_spam_with_block_closes_the_item_and_blocks_the_sender(asgi_server, desk, demo):
    # given
    citizen_says(asgi_server, p.wa_text(OMAR, "Buy cheap watches www.example.com", name="Spam"))
    item = asks_for_a_person(asgi_server, OMAR, "Spam")
    page = inbox_open(desk, asgi_server)
    item_open(page, item.pk)

    # when
    page.locator('#close-form [data-outcome="spam"]').click()
    page.locator("#close-block").check()
    page.locator("#close-spam-button").click()
    page.locator("#ib-done").wait_for()

    # then: closed, blocked, and nothing is answered
    item.refresh_from_db()
    assert (item.state, item.reply) == ("spam", "")
    assert item.contact.blocked is True
    assert agent_answers(item.contact) == []
    assert page.locator("#ib-head .ib-flag-blocked").count() == 1


# --- live, roles, languages -----------------------------------------------------------------

def test_a_new_item_arrives_live_without_reload(asgi_server, desk, demo):
    # given: the inbox is open with one item waiting
    older = lamp_without_a_place(asgi_server, OMAR, "Omar")
    page = inbox_open(desk, asgi_server)
    assert page.locator("#inbox-list li").count() == 1
    item_open(page, older.pk)
    page.fill("#file-description", "typed by the agent")

    # when: Leila's conversation is handed over while the page is open
    lamp_with_a_photo(asgi_server, demo["fake"])
    sent = time.monotonic()
    item = asks_for_a_person(asgi_server)
    row(page, item.pk).wait_for(timeout=3000)
    arrived = time.monotonic() - sent

    # then: listed first, marked new, without a reload, and the open item kept its text
    assert arrived < 2.0
    assert page.locator("#inbox-list li").first.get_attribute("data-id") == str(item.pk)
    assert row(page, item.pk).locator(".new-badge").inner_text() == "new"
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#file-description").input_value() == "typed by the agent"
    assert page.evaluate(f"RasadInbox.metrics.events.some(e => e.id === {item.pk})") is True
    screenshot(page, "inbox-live")


def test_the_list_catches_up_after_the_socket_drops(asgi_server, desk, demo):
    # given: the inbox is open and live; the network goes
    page = inbox_open(desk, asgi_server)
    desk.set_offline(True)
    page.evaluate("RasadInbox.live.drop()")
    page.wait_for_function("['reconnecting', 'offline'].includes(document.body.dataset.live)")

    # when: an item arrives while nobody listens, then the network is back
    item = lamp_without_a_place(asgi_server, LEILA, "Leila")
    time.sleep(1)
    assert row(page, item.pk).count() == 0
    desk.set_offline(False)

    # then: it reconnects with backoff and reads the list again
    page.wait_for_function("document.body.dataset.live === 'live'", timeout=20000)
    row(page, item.pk).wait_for(timeout=5000)
    assert page.evaluate("RasadInbox.live.reconnects") == 1
    assert page.evaluate("window.__notReloaded") is True


def test_an_item_is_filed_from_the_keyboard(asgi_server, desk, demo):
    # given: the lamp without a place (its category known), the inbox open
    item = lamp_without_a_place(asgi_server, LEILA, "Leila")
    page = inbox_open(desk, asgi_server)

    # when: "/" goes to the search; the row is opened with Enter
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "filter-q"
    row(page, item.pk).locator("button.ib-open").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.body.dataset.detail === '{item.pk}'")

    # then: the place search has the focus; a street is typed, picked with the arrow keys
    assert page.evaluate("document.activeElement.id") == "place-search"
    page.keyboard.type("Kaivokatu")
    page.locator("#place-results button.ib-place").first.wait_for()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent").startswith("Kaivokatu")
    page.keyboard.press("Enter")
    page.wait_for_function("document.body.dataset.pin")
    assert page.evaluate("document.activeElement.id") == "file-category"

    # when: Ctrl+Enter files
    page.keyboard.press("Control+Enter")
    page.locator("#ib-code").wait_for()

    # then
    item.refresh_from_db()
    assert (item.state, item.report.category.code, item.report.address) == (
        "filed", "street-light", "Kaivokatu")

    # when: Escape goes back to the list
    page.keyboard.press("Escape")

    # then
    assert page.locator("#ib-detail").is_hidden()
    assert page.locator("#ib-placeholder").is_visible()


def test_manager_reads_the_inbox_without_action_buttons(asgi_server, desk, demo):
    # given
    item = lamp_without_a_place(asgi_server, LEILA, "Leila")
    page = inbox_open(desk, asgi_server, user=MANAGER)

    # when
    item_open(page, item.pk)

    # then: the messages, no forms, no buttons that act
    assert page.locator("#ib-messages > li").count() == 3
    assert page.locator("#file-form, #close-form, [data-action], [data-use]").count() == 0
    assert page.evaluate("RasadInbox.state.pin") is None
    screenshot(page, "inbox-manager")


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_inbox_is_right_to_left_and_works_in_arabic_and_persian(asgi_server, desk, demo,
                                                                language):
    # given
    item = lamp_without_a_place(asgi_server, LEILA, "Leila")

    # when
    page = inbox_open(desk, asgi_server, language=language)

    # then: right to left, the list on the reading side, the map at the end, chrome translated
    assert (page.get_attribute("html", "dir"), page.get_attribute("html", "lang")) == (
        "rtl", language)
    listing = page.locator("#ib-list-pane").bounding_box()
    detail = page.locator("#ib-detail-pane").bounding_box()
    area = page.locator(".ib-map-pane").bounding_box()
    assert listing["x"] > detail["x"] > area["x"]
    zoom = page.locator(".leaflet-control-zoom").bounding_box()
    assert zoom["x"] > area["x"] + area["width"] / 2
    assert page.locator('label[for="filter-provider"]').inner_text() == {
        "ar": "القناة", "fa": "کانال"}[language]
    assert page.locator("#live-indicator .label").inner_text() != "Live"
    assert page.evaluate("getComputedStyle(document.querySelector('.ib-open')).direction") == "rtl"

    # when: the agent files it, finding the street by its Arabic or Persian name
    item_open(page, item.pk)
    assert page.locator("#file-category option:checked").inner_text() == {
        "ar": "عمود إنارة معطل", "fa": "چراغ خیابان خاموش"}[language]
    name = {"ar": "شارع النخيل", "fa": "خیابان نخل"}[language]
    street_pick(page, name, name)
    page.wait_for_function("document.body.dataset.pin")
    screenshot(page, f"inbox-{language}")
    page.locator("#file-button").click()
    page.locator("#ib-code").wait_for()

    # then
    item.refresh_from_db()
    report = Report.objects.get()
    assert (item.state, item.report, report.category.code) == ("filed", report, "street-light")
    assert page.locator("#ib-code").inner_text() == report.tracking_code
    street = Street.objects.get(name="Palm Street")
    assert (round(report.location.x, 5), round(report.location.y, 5)) == (
        round(street.point.x, 5), round(street.point.y, 5))


def test_citizen_text_is_shown_as_text(asgi_server, desk, demo):
    # given: a citizen whose name and message are HTML
    evil = "<img src=x onerror=alert(1)>"
    citizen_says(asgi_server, p.wa_text(OMAR, evil, name="<b>Mallory</b>"))
    item = asks_for_a_person(asgi_server, OMAR, "<b>Mallory</b>")
    dialogs = []
    desk.on("page", lambda pg: pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))

    # when
    page = inbox_open(desk, asgi_server)
    item_open(page, item.pk)
    page.wait_for_timeout(300)

    # then: the markup is text, nothing ran
    assert row(page, item.pk).locator(".ib-snippet").inner_text() == evil
    assert row(page, item.pk).locator(".ib-sender").inner_text() == "<b>Mallory</b>"
    assert page.locator("#ib-head .ib-title").inner_text() == "<b>Mallory</b>"
    assert page.locator("#ib-messages .citizen-text").first.inner_text() == evil
    assert page.locator("#file-description").input_value() == evil
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
