"""Area alerts and notices: subscriptions receive exactly the incidents their area covers
(border points included), at once or in a daily digest; notices reach each subscriber once,
in their language, on their channel; unsubscribe links work once; bad input stores nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from fixtures.factories import CategoryFactory
from incidents.channels.providers.whatsapp import WhatsAppProvider
from incidents.models import AlertSubscription, ChannelContact, Notice, Notification, Status
from incidents.services import incident_transition
from incidents.services.alerts import (
    NoticeInput,
    SubscriptionInput,
    alert_subscription_confirm,
    alert_subscription_create,
    alerts_queue_digests,
    alerts_queue_immediate,
    notice_fan_out,
    notice_publish,
    notifications_send_batch,
)
from ops.roles import Role
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db

WEST_INSIDE = (24.9300, 60.1700)
BORDER = (24.9400, 60.1700)  # the shared edge of West (24.92–24.94) and East (24.94–24.96)
EAST_INSIDE = (24.9500, 60.1700)
CITY_EDGE = (24.9600, 60.1750)  # East's outer edge, the city's too


@pytest.fixture(autouse=True)
def _city(district, district_east):
    """The test city with West and East (tests/conftest.py)."""


def subscribe(*, email="a@example.org", language="en", **fields) -> AlertSubscription:
    subscription = alert_subscription_create(data=SubscriptionInput(
        email=email, language=language, **fields))
    return alert_subscription_confirm(token=subscription.token)


def alert_rows(kind="alert"):
    return sorted(Notification.objects.filter(kind=kind)
                  .values_list("recipient", "dedupe_key"))


def resolve(incident, by):
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=status, by=by)
    return incident


@pytest.mark.parametrize(("where", "west", "east"), [
    (WEST_INSIDE, True, False),
    (BORDER, True, True),
    (EAST_INSIDE, False, True),
    (CITY_EDGE, False, True),
])
def test_district_subscribers_get_exactly_the_incidents_their_district_covers(
        category, make_report, where, west, east):
    subscribe(email="west@example.org", scope="district", district_code="west")
    subscribe(email="east@example.org", scope="district", district_code="east")
    report = make_report(category, *where)

    written = alerts_queue_immediate()

    expected = [address for address, wanted in (("east@example.org", east),
                                                 ("west@example.org", west)) if wanted]
    assert [recipient for recipient, _key in alert_rows()] == expected
    assert written == len(expected)
    assert all(key.endswith(f":{report.incident_id}:new") for _r, key in alert_rows())


@pytest.mark.parametrize(("where", "expected"), [
    ((24.9300, 60.1700), True),   # inside
    ((24.9350, 60.1700), True),   # on the drawn edge: covered
    ((24.9360, 60.1700), False),  # 55 m outside
])
def test_drawn_area_covers_points_on_its_edge(category, make_report, where, expected):
    polygon = {"type": "Polygon", "coordinates": [[[24.925, 60.165], [24.935, 60.165],
                                                   [24.935, 60.175], [24.925, 60.175],
                                                   [24.925, 60.165]]]}
    subscribe(scope="area", area_geojson=polygon)
    make_report(category, *where)

    alerts_queue_immediate()

    assert len(alert_rows()) == (1 if expected else 0)


def test_point_with_radius_gets_what_is_within_the_radius(category, make_report):
    subscribe(scope="area", lon=24.9300, lat=60.1700, radius_m=300)
    make_report(category, 24.9300, 60.1720)  # 222 m north
    make_report(category, 24.9300, 60.1740)  # 445 m north

    alerts_queue_immediate()

    assert len(alert_rows()) == 1


def test_categories_limit_what_a_subscriber_hears(category, make_report, department):
    light = CategoryFactory(code="light", department=department, name_en="Street light")
    subscribe(scope="city", category_codes=("light",))
    make_report(category, *WEST_INSIDE)
    lit = make_report(light, *EAST_INSIDE)

    alerts_queue_immediate()

    assert [key for _r, key in alert_rows()] == [
        f"alert:{AlertSubscription.objects.get().pk}:{lit.incident_id}:new"]


def test_a_second_sweep_writes_nothing_new(category, make_report):
    subscribe(scope="city")
    make_report(category, *WEST_INSIDE)

    first, second = alerts_queue_immediate(), alerts_queue_immediate()

    assert (first, second) == (1, 0)
    assert Notification.objects.filter(kind="alert").count() == 1


def test_resolution_is_announced_to_the_area(category, make_report, dispatcher):
    subscription = subscribe(scope="district", district_code="west", language="en")
    report = make_report(category, *WEST_INSIDE)
    resolve(report.incident, dispatcher)

    alerts_queue_immediate()

    rows = Notification.objects.filter(kind="alert").order_by("dedupe_key")
    assert [r.dedupe_key for r in rows] == [
        f"alert:{subscription.pk}:{report.incident_id}:new",
        f"alert:{subscription.pk}:{report.incident_id}:resolved"]
    resolved = rows[1]
    assert resolved.subject == "Problem resolved in West"
    assert f"Pothole in West — http://127.0.0.1:8000/track/{report.tracking_code}/" in resolved.body
    assert f"/alerts/manage/{subscription.token}/" in resolved.body


def test_alert_text_is_in_the_subscribers_language(category, make_report):
    subscribe(email="ar@example.org", scope="district", district_code="west", language="ar")
    make_report(category, *WEST_INSIDE)

    alerts_queue_immediate()

    notification = Notification.objects.get(kind="alert")
    assert notification.language == "ar"
    assert "حفرة" in notification.body
    assert "الغرب" in notification.body


def test_daily_subscribers_get_one_digest_not_immediate_alerts(category, make_report):
    daily = subscribe(email="daily@example.org", scope="city", frequency="daily")
    subscribe(email="now@example.org", scope="city")
    first = make_report(category, *WEST_INSIDE)
    second = make_report(category, *EAST_INSIDE)

    immediate = alerts_queue_immediate()
    digests = alerts_queue_digests()
    again = alerts_queue_digests()

    assert (immediate, digests, again) == (2, 1, 0)
    assert [r for r, _k in alert_rows("alert")] == ["now@example.org", "now@example.org"]
    digest = Notification.objects.get(kind="digest")
    assert digest.recipient == "daily@example.org"
    assert digest.dedupe_key == f"digest:{daily.pk}:{timezone.localdate().isoformat()}"
    assert digest.subject == "Alerts for Test City: 2 new, 0 resolved"
    assert first.tracking_code in digest.body
    assert second.tracking_code in digest.body


def test_next_digest_holds_only_what_came_after_the_last(category, make_report):
    subscribe(scope="city", frequency="daily")
    make_report(category, *WEST_INSIDE)
    alerts_queue_digests()
    later = make_report(category, *EAST_INSIDE)

    written = alerts_queue_digests(now=timezone.now() + timedelta(days=1))

    assert written == 1
    newest = Notification.objects.filter(kind="digest").order_by("-pk").first()
    assert newest.subject == "New problem reported in Test City"
    assert later.tracking_code in newest.body


def test_pending_unsubscribed_and_stopped_subscribers_hear_nothing(category, make_report,
                                                                   api_client):
    alert_subscription_create(data=SubscriptionInput(email="pending@example.org", scope="city"))
    gone = subscribe(email="gone@example.org", scope="city")
    api_client.post(f"/api/v1/alerts/unsubscribe/{gone.token}/")
    stopped = subscribe(email="stop@example.org", scope="city")
    ChannelContact.objects.filter(pk=stopped.contact_id).update(opted_out_at=timezone.now())
    make_report(category, *WEST_INSIDE)

    assert alerts_queue_immediate() == 0


def test_subscribing_by_email_sends_a_confirmation_link_first(api_client, category):
    response = api_client.post("/api/v1/alerts/subscriptions/", {
        "scope": "district", "district": "west", "email": "New@Example.org",
        "language": "en", "categories": ["pothole"]}, format="json")

    assert response.status_code == 201
    subscription = AlertSubscription.objects.get()
    assert (subscription.state, subscription.contact.external_id) == ("pending",
                                                                      "new@example.org")
    confirmation = Notification.objects.get(kind="subscribe")
    assert notifications_send_batch(dedupe_prefix="subscribe:") == 1
    (message,) = mail.outbox
    assert message.to == ["new@example.org"]
    assert f"http://127.0.0.1:8000/alerts/confirm/{subscription.token}/" in message.body
    assert confirmation.subject == "Confirm your alerts for West"

    confirmed = api_client.post(f"/api/v1/alerts/confirm/{subscription.token}/")

    assert confirmed.status_code == 200
    assert confirmed.json()["state"] == "active"
    assert "new@example.org" not in confirmed.content.decode()


def test_subscribing_on_the_channel_of_a_report(category, make_report, api_client,
                                                fake_providers):
    report = make_report(category, *WEST_INSIDE, reporter_phone="+358401234567", language="fa")

    response = api_client.post("/api/v1/alerts/subscriptions/", {
        "scope": "city", "tracking_code": report.tracking_code, "language": "fa"},
        format="json")

    assert response.status_code == 201
    subscription = AlertSubscription.objects.get()
    assert (subscription.contact.provider, subscription.contact.external_id,
            subscription.language) == ("sms", "+358401234567", "fa")
    notifications_send_batch(dedupe_prefix="subscribe:")
    (sent,) = fake_providers.sent_to("sms")
    assert sent["to"] == "+358401234567"
    assert f"/alerts/confirm/{subscription.token}/" in sent["body"]["Body"]


def test_unsubscribe_link_works_once_and_a_reused_link_changes_nothing(api_client):
    subscription = subscribe(scope="city")

    first = api_client.post(f"/api/v1/alerts/unsubscribe/{subscription.token}/")
    subscription.refresh_from_db()
    at = subscription.unsubscribed_at
    second = api_client.post(f"/api/v1/alerts/unsubscribe/{subscription.token}/")

    assert first.status_code == 200
    assert second.status_code == 410
    assert second.json() == {"detail": "You have already unsubscribed from these alerts.",
                             "code": "already_unsubscribed"}
    subscription.refresh_from_db()
    assert (subscription.state, subscription.unsubscribed_at) == ("unsubscribed", at)


def test_unknown_unsubscribe_link_is_404(api_client):
    assert api_client.post("/api/v1/alerts/unsubscribe/nope/").status_code == 404


def test_manage_page_unsubscribes_once(client):
    subscription = subscribe(scope="city")

    page = client.get(f"/alerts/manage/{subscription.token}/")
    first = client.post(f"/alerts/manage/{subscription.token}/", {"action": "unsubscribe"})
    second = client.post(f"/alerts/manage/{subscription.token}/", {"action": "unsubscribe"})

    assert page.status_code == 200
    assert "a@example.org" not in page.content.decode()
    assert first.status_code == 200
    assert "You will get no more of these alerts." in first.content.decode()
    assert second.status_code == 410
    assert "You have already unsubscribed from these alerts." in second.content.decode()


def test_confirm_page_asks_on_get_and_confirms_on_post(client):
    subscription = alert_subscription_create(data=SubscriptionInput(email="a@example.org",
                                                                    scope="city"))

    client.get(f"/alerts/confirm/{subscription.token}/")
    subscription.refresh_from_db()
    pending = subscription.state
    client.post(f"/alerts/confirm/{subscription.token}/")
    subscription.refresh_from_db()

    assert (pending, subscription.state) == ("pending", "active")


LINE = {"type": "LineString", "coordinates": [[24.93, 60.17], [24.935, 60.17]]}
OUTSIDE = {"type": "Polygon", "coordinates": [[[24.95, 60.17], [24.97, 60.17], [24.97, 60.175],
                                               [24.95, 60.175], [24.95, 60.17]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[24.93, 60.17], [24.935, 60.175],
                                              [24.935, 60.17], [24.93, 60.175],
                                              [24.93, 60.17]]]}


@pytest.mark.parametrize(("payload", "field", "detail"), [
    ({"scope": "area", "area": LINE}, "area", "The area must be a GeoJSON Polygon."),
    ({"scope": "area", "area": OUTSIDE}, "area", "The area must lie inside the city."),
    ({"scope": "area", "area": BOWTIE}, "area",
     "The area's outline crosses itself; draw it again."),
    ({"scope": "area", "area": "not json"}, "area", "The area must be a GeoJSON Polygon."),
    ({"scope": "area", "lon": 25.5, "lat": 60.17, "radius_m": 200}, "area",
     "The point must lie inside the city."),
    ({"scope": "area", "lon": 24.93, "lat": 60.17, "radius_m": 90000}, "radius_m",
     "The radius must be between 50 and 5000 metres."),
    ({"scope": "district", "district": "atlantis"}, "district",
     "Unknown district “atlantis”."),
    ({"scope": "city", "categories": ["pothole", "dragons"]}, "categories",
     "Unknown category: dragons."),
    ({"scope": "city", "email": "not-an-address"}, "email", "Enter a valid email address."),
    ({"scope": "city", "email": "", "tracking_code": "NOPE-1234"}, "tracking_code",
     "No report with a contact has this tracking code."),
])
def test_bad_subscription_is_refused_clearly_and_stores_nothing(api_client, category,
                                                                payload, field, detail):
    body = {"email": "a@example.org", "language": "en"} | payload

    response = api_client.post("/api/v1/alerts/subscriptions/", body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert list(response.json()["errors"]) == [field]
    assert AlertSubscription.objects.count() == 0
    assert ChannelContact.objects.count() == 0
    assert Notification.objects.count() == 0


def test_refusal_is_in_the_readers_language(api_client, district):
    response = api_client.post("/api/v1/alerts/subscriptions/", {
        "scope": "district", "district": "atlantis", "email": "a@example.org"},
        format="json", HTTP_ACCEPT_LANGUAGE="fa")

    assert response.status_code == 400
    assert response["Content-Language"] == "fa"


# Notices ------------------------------------------------------------------------------


def publish(by, *, districts=("west",), **texts):
    now = timezone.now()
    return notice_publish(data=NoticeInput(
        kind="water_cut", starts_at=now, ends_at=now + timedelta(hours=6),
        titles={k[6:]: v for k, v in texts.items() if k.startswith("title_")},
        bodies={k[5:]: v for k, v in texts.items() if k.startswith("body_")},
        district_codes=tuple(districts)), by=by)


def test_notice_reaches_each_subscriber_once_in_their_language_on_their_channel(
        category, make_report, dispatcher, district_east, fake_providers):
    subscribe(email="ar@example.org", scope="district", district_code="west", language="ar")
    sms_report = make_report(category, *WEST_INSIDE, reporter_phone="+358401234567")
    sms = alert_subscription_create(data=SubscriptionInput(
        tracking_code=sms_report.tracking_code, scope="district", district_code="west",
        language="fa"))
    alert_subscription_confirm(token=sms.token)
    subscribe(email="city@example.org", scope="city", language="en")
    subscribe(email="east@example.org", scope="district", district_code="east")
    # A second subscription of the same address: still one message.
    subscribe(email="ar@example.org", scope="area", lon=24.93, lat=60.17, radius_m=200,
              language="ar")
    notice = publish(dispatcher, title_ar="انقطاع المياه", body_ar="غداً من ٨ إلى ١٢",
                     title_fa="قطع آب", body_fa="فردا ۸ تا ۱۲", title_en="Water cut",
                     body_en="Tomorrow 8–12")

    written = notice_fan_out(notice_id=notice.pk)
    sent = notifications_send_batch(dedupe_prefix=f"notice:{notice.pk}:")

    assert (written, sent) == (3, 3)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert sorted(by_address) == ["ar@example.org", "city@example.org"]
    assert by_address["ar@example.org"].subject == "انقطاع المياه"
    assert "غداً من ٨ إلى ١٢" in by_address["ar@example.org"].body
    assert by_address["city@example.org"].subject == "Water cut"
    (text,) = fake_providers.sent_to("sms")
    assert text["to"] == "+358401234567"
    assert text["body"]["Body"].startswith("قطع آب\n\nفردا ۸ تا ۱۲")
    assert f"/alerts/manage/{sms.token}/" in text["body"]["Body"]
    notice.refresh_from_db()
    assert notice.fanned_out_count == 3


def test_a_retried_fan_out_sends_nothing_twice(dispatcher, district_east):
    for n in range(5):
        subscribe(email=f"s{n}@example.org", scope="city")
    notice = publish(dispatcher, title_en="Storm tonight")

    first = notice_fan_out(notice_id=notice.pk)
    second = notice_fan_out(notice_id=notice.pk)

    rows = Notification.objects.filter(kind="notice")
    assert (first, second) == (5, 0)
    assert rows.count() == rows.values("contact_id").distinct().count() == 5


def test_notice_in_one_language_reaches_the_others_in_it(dispatcher):
    subscribe(email="fa@example.org", scope="city", language="fa")
    notice = publish(dispatcher, districts=(), body_ar="جمع النفايات يوم الأحد")

    notice_fan_out(notice_id=notice.pk)

    assert "جمع النفايات يوم الأحد" in Notification.objects.get(kind="notice").body


def test_whatsapp_outside_the_window_uses_the_alert_template(settings):
    contact = ChannelContact.objects.create(provider="whatsapp", external_id="358401234567")
    notification = Notification(contact=contact, kind="notice", channel="whatsapp",
                                recipient="358401234567", language="fa", subject="قطع آب",
                                body="قطع آب فردا", next_attempt_at=timezone.now())

    body = WhatsAppProvider().message_body(notification)

    assert body["type"] == "template"
    assert body["template"]["name"] == "rasad_area_alert"
    assert body["template"]["language"] == {"code": "fa"}
    assert body["template"]["components"][0]["parameters"] == [{"type": "text",
                                                                "text": "قطع آب فردا"}]


def test_staff_publish_a_notice_through_the_api(dispatcher_client, department, district):
    ends = (timezone.now() + timedelta(hours=3)).isoformat()

    response = dispatcher_client.post("/api/v1/alerts/notices/", {
        "kind": "road_closure", "districts": ["west"], "department": "roads",
        "ends_at": ends, "title": {"en": "Road closed", "ar": "طريق مغلق"}}, format="json")

    assert response.status_code == 201
    notice = Notice.objects.get()
    assert (notice.title_en, notice.title_ar, notice.department_id) == (
        "Road closed", "طريق مغلق", department.pk)
    assert [d.code for d in notice.districts.all()] == ["west"]


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"title": {"en": " "}, "body": {}}, 400, "body"),
    ({"districts": ["atlantis"]}, 400, "districts"),
    ({"department": ""}, 400, "department"),
    ({"department": "water"}, 400, "department"),
    ({"ends_at": "2020-01-01T00:00:00Z"}, 400, "ends_at"),
    ({"kind": "party"}, 400, "kind"),
])
def test_bad_notice_is_refused_and_stores_nothing(dispatcher_client, district, department,
                                                  payload, status, field):
    from fixtures.factories import DepartmentFactory

    DepartmentFactory(code="water", name_en="Water")
    body = {"kind": "water_cut", "districts": ["west"], "department": "roads",
            "ends_at": (timezone.now() + timedelta(hours=3)).isoformat(),
            "title": {"en": "Water cut"}} | payload

    response = dispatcher_client.post("/api/v1/alerts/notices/", body, format="json")

    assert response.status_code == status
    assert list(response.json()["errors"]) == [field]
    assert Notice.objects.count() == 0


def test_citizens_cannot_publish_notices(api_client, district):
    citizen = user_with_role(Role.CITIZEN)
    api_client.force_authenticate(citizen)

    response = api_client.post("/api/v1/alerts/notices/", {
        "ends_at": (timezone.now() + timedelta(hours=3)).isoformat(),
        "title": {"en": "Free cake"}}, format="json")

    assert response.status_code == 403
    assert Notice.objects.count() == 0


def test_public_notices_of_a_district_are_those_valid_now(api_client, dispatcher,
                                                          district_east):
    west = publish(dispatcher, title_en="West water cut")
    publish(dispatcher, districts=("east",), title_en="East only")
    city = publish(dispatcher, districts=(), title_en="City-wide storm")
    over = publish(dispatcher, title_en="Over")
    Notice.objects.filter(pk=over.pk).update(starts_at=timezone.now() - timedelta(days=2),
                                             ends_at=timezone.now() - timedelta(days=1))

    response = api_client.get("/api/v1/alerts/notices/?district=west")

    assert response.status_code == 200
    assert sorted(n["id"] for n in response.json()["notices"]) == sorted([west.pk, city.pk])
    assert api_client.get("/api/v1/alerts/notices/?district=atlantis").status_code == 404


# Feeds -------------------------------------------------------------------------------


def test_district_feed_lists_its_incidents_without_personal_data(client, category,
                                                                 make_report, department):
    light = CategoryFactory(code="light", department=department, name_en="Street light")
    west = make_report(category, *WEST_INSIDE, reporter_email="secret@example.org",
                       reporter_name="Hidden Name", description="my neighbour's car")
    lamp = make_report(light, 24.925, 60.175)
    east = make_report(category, *EAST_INSIDE)

    feed = client.get("/alerts/west.atom")
    potholes = client.get("/alerts/west.atom?category=pothole")

    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("application/atom+xml")
    text = feed.content.decode()
    assert f"rasad-incident-{west.incident_id}" in text
    assert f"rasad-incident-{lamp.incident_id}" in text
    assert f"rasad-incident-{east.incident_id}" not in text
    for private in ("secret@example.org", "Hidden Name", "neighbour"):
        assert private not in text
    assert f"rasad-incident-{lamp.incident_id}" not in potholes.content.decode()
    assert f"rasad-incident-{west.incident_id}" in potholes.content.decode()


@pytest.mark.parametrize("path", ["/alerts/atlantis.atom", "/alerts/west.atom?category=dragons"])
def test_feed_of_unknown_district_or_category_is_404(client, district, category, path):
    assert client.get(path).status_code == 404


def test_alerts_page_of_a_district_shows_its_notice_banner(client, dispatcher):
    publish(dispatcher, title_en="Water cut in West", body_en="Until noon")

    page = client.get("/alerts/district/west/")

    assert page.status_code == 200
    assert "Water cut in West" in page.content.decode()


def test_alerts_page_form_refuses_unknown_district_and_stores_nothing(client, district):
    response = client.post("/alerts/", {"scope": "district", "district": "atlantis",
                                        "email": "a@example.org", "frequency": "immediate",
                                        "language": "en"})

    assert response.status_code == 400
    assert "Unknown district “atlantis”." in response.content.decode()
    assert AlertSubscription.objects.count() == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_published_notice_is_fanned_out_and_sent_by_a_real_worker(dispatcher,
                                                                    celery_worker):
    import time

    subscribe(email="ar@example.org", scope="district", district_code="west", language="ar")
    subscribe(email="en@example.org", scope="city", language="en")
    subscribe(email="east@example.org", scope="district", district_code="east")

    notice = publish(dispatcher, title_ar="عاصفة", title_en="Storm")
    rows = Notification.objects.filter(kind="notice")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and rows.filter(state="sent").count() < 2:
        time.sleep(0.1)

    ids = {f"rasad-{pk}" for pk in rows.values_list("pk", flat=True)}
    sent = [m for m in mail.outbox if m.extra_headers["X-Rasad-Message-Id"] in ids]
    assert sorted((m.to[0], m.subject) for m in sent) == [
        ("ar@example.org", "عاصفة"), ("en@example.org", "Storm")]
    assert sorted(rows.values_list("state", flat=True)) == ["sent", "sent"]
    notice.refresh_from_db()
    assert notice.fanned_out_count == 2


def notice_form(**fields) -> dict:
    ends = (timezone.localtime() + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    return {"kind": "road_closure", "department": "roads", "districts": ["west"],
            "ends_at": ends, "title_fa": "خیابان بسته است", "body_fa": "تا ظهر"} | fields


def test_a_dispatcher_publishes_a_notice_from_the_console_page(client, dispatcher):
    client.force_login(dispatcher)

    page = client.get("/console/notices/")
    response = client.post("/console/notices/", notice_form())

    assert page.status_code == 200
    assert response.status_code == 200
    notice = Notice.objects.get()
    assert (notice.kind, notice.title_fa, notice.body_fa, notice.created_by) == (
        "road_closure", "خیابان بسته است", "تا ظهر", dispatcher)
    assert [d.code for d in notice.districts.all()] == ["west"]
    assert f'data-notice="{notice.pk}"' in response.content.decode()


@pytest.mark.parametrize(("fields", "message"), [
    ({"title_fa": "", "body_fa": ""}, "Write the notice in at least one language."),
    ({"department": ""}, "Publish for one of your own departments."),
    ({"ends_at": ""}, "Give the end of the notice."),
])
def test_console_notice_form_refuses_bad_input_and_stores_nothing(client, dispatcher, fields,
                                                                  message):
    client.force_login(dispatcher)

    response = client.post("/console/notices/", notice_form(**fields))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Notice.objects.count() == 0


def test_console_notices_page_is_for_staff_who_publish(client):
    client.force_login(user_with_role(Role.CREW))

    assert client.get("/console/notices/").status_code == 403
    client.logout()
    assert client.get("/console/notices/").status_code == 302
