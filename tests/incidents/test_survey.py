"""The satisfaction survey: scheduled when an incident is resolved, sent through the outbox on
the reporter's own channel (WhatsApp through the fake Graph API, SMS by numbers), answered
with buttons, numbers and words or through its tokenised link, reminded once, expired, and
asked again weeks later when nobody confirmed the fix. Time passes by moving timestamps in
the database."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from fixtures import channel_payloads as p
from incidents.models import (
    ChannelContact,
    Conversation,
    Incident,
    Notification,
    Report,
    Status,
    Survey,
)
from incidents.services import incident_transition
from incidents.services.notify import notification_send
from incidents.services.survey import (
    surveys_expire,
    surveys_followup_schedule,
    surveys_remind_due,
    surveys_schedule,
    surveys_send_due,
)
from tests.conftest import CENTRE, offset
from tests.incidents.channels.conftest import process_all, texts_sent, whatsapp_say

pytestmark = pytest.mark.django_db
WA_ID = "358401234567"
PHONE = "+358401234567"
SMS_WEBHOOK_URL = "http://127.0.0.1:8000/channels/sms/webhook"


def whatsapp_contact(*, hours_since_last_message: float = 1) -> ChannelContact:
    return ChannelContact.objects.create(
        provider="whatsapp", external_id=WA_ID, phone=PHONE, language="en",
        last_inbound_at=timezone.now() - timedelta(hours=hours_since_last_message))


def report_on_whatsapp(make_report, category, contact: ChannelContact, **fields) -> Report:
    report = make_report(category, channel="whatsapp", **fields)
    Report.objects.filter(pk=report.pk).update(contact=contact)
    return Report.objects.get(pk=report.pk)


def resolve(incident: Incident, by) -> Incident:
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=to, by=by)
    return incident


def delay_over() -> None:
    """The hours between the resolution and the survey have passed."""
    Survey.objects.filter(state="scheduled").update(due_at=timezone.now() - timedelta(minutes=1))


def outbox_send() -> list[str]:
    """The worker sends what waits in the outbox for citizens; status messages are left out
    here so that only the survey's conversation reaches the fake providers."""
    pending = Notification.objects.exclude(kind="status").filter(state="pending")
    return [notification_send(notification_id=pk) for pk in pending.values_list("pk", flat=True)]


def survey_sent(report: Report) -> Survey:
    delay_over()
    surveys_send_due()
    return Survey.objects.get(report=report, round=1)


def sms_say(client, text: str) -> None:
    body, headers = p.twilio_request(p.sms_inbound(PHONE, text), settings.RASAD_SMS_AUTH_TOKEN,
                                     SMS_WEBHOOK_URL)
    response = client.post("/channels/sms/webhook", data=body,
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": headers["X-Twilio-Signature"]})
    assert response.status_code == 200
    process_all()


def survey_fields(survey: Survey) -> tuple:
    survey.refresh_from_db()
    return (survey.state, survey.step, survey.fixed, survey.rating, survey.comment,
            survey.answered_at)


# -- Scheduling ------------------------------------------------------------------------------

def test_resolving_schedules_one_survey_per_reporter_with_a_contact_after_the_delay(
        category, make_report, dispatcher):
    first = make_report(category, reporter_email="a@example.org")
    by_phone = make_report(category, *offset(*CENTRE, east_m=5), reporter_phone=PHONE)
    make_report(category, *offset(*CENTRE, east_m=8))  # no contact: nobody to ask
    before = timezone.now()

    resolve(first.incident, dispatcher)

    surveys = list(Survey.objects.order_by("report_id"))
    assert [(s.report_id, s.round, s.state, s.contact.provider, s.contact.external_id)
            for s in surveys] == [(first.pk, 1, "scheduled", "email", "a@example.org"),
                                  (by_phone.pk, 1, "scheduled", "sms", PHONE)]
    delay = timedelta(hours=settings.RASAD_SURVEY_DELAY_HOURS)
    assert all(before + delay <= s.due_at <= timezone.now() + delay for s in surveys)
    assert surveys_send_due() == 0  # not before the delay
    assert not Notification.objects.filter(kind="survey").exists()


def test_a_citizen_who_reported_the_problem_twice_is_asked_once(category, make_report,
                                                                 dispatcher):
    first = make_report(category, reporter_email="a@example.org")
    again = make_report(category, *offset(*CENTRE, east_m=5), reporter_email="A@example.org")
    assert again.incident_id == first.incident_id

    resolve(first.incident, dispatcher)

    assert list(Survey.objects.values_list("report_id", flat=True)) == [first.pk]


def test_scheduling_again_makes_no_second_survey(category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    incident = resolve(report.incident, dispatcher)
    survey = Survey.objects.get()

    surveys_schedule(incident=incident)

    assert list(Survey.objects.values_list("pk", "state")) == [(survey.pk, "scheduled")]


def test_a_reopening_before_the_survey_is_sent_cancels_it_and_a_new_resolution_asks_again(
        category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    incident = resolve(report.incident, dispatcher)
    survey = Survey.objects.get()

    incident = incident_transition(incident=incident, to=Status.REOPENED, by=dispatcher,
                                   note="The patch washed out")
    delay_over()

    assert surveys_send_due() == 0
    assert Survey.objects.get().state == "cancelled"
    assert not Notification.objects.filter(kind="survey").exists()
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=to, by=dispatcher)
    assert list(Survey.objects.values_list("pk", "state")) == [(survey.pk, "scheduled")]


def test_reporters_who_sent_stop_or_are_blocked_get_no_survey(category, make_report,
                                                              dispatcher):
    stopped = whatsapp_contact()
    ChannelContact.objects.filter(pk=stopped.pk).update(opted_out_at=timezone.now())
    blocked = ChannelContact.objects.create(provider="telegram", external_id="5550001",
                                            blocked=True)
    report = report_on_whatsapp(make_report, category, stopped)
    other = make_report(category, *offset(*CENTRE, east_m=5))
    Report.objects.filter(pk=other.pk).update(contact=blocked)

    resolve(report.incident, dispatcher)

    assert not Survey.objects.exists()


def test_a_reporter_who_sends_stop_before_the_survey_goes_gets_nothing(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)

    whatsapp_say(client, p.wa_text(WA_ID, "STOP"))
    fake_providers.clear()
    delay_over()

    assert surveys_send_due() == 0
    assert outbox_send() == []
    assert Survey.objects.get().state == "cancelled"
    assert fake_providers.sent_to("whatsapp") == []


# -- Sending on WhatsApp ---------------------------------------------------------------------

def test_a_due_survey_goes_on_whatsapp_with_buttons_within_the_24_hour_window(
        category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    delay_over()

    assert surveys_send_due() == 1
    assert outbox_send() == ["sent"]

    survey = Survey.objects.get()
    (sent,) = fake_providers.sent_to("whatsapp")
    interactive = sent["body"]["interactive"]
    assert (sent["to"], interactive["type"]) == (WA_ID, "button")
    assert interactive["body"]["text"] == (
        f"The city marked your report {report.tracking_code} (Pothole) as fixed. Is the "
        "problem really fixed?\nYou can also answer on this page: "
        f"http://127.0.0.1:8000/survey/{survey.token}/")
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": f"survey:{survey.token}:fixed", "title": "Yes, it is fixed"},
        {"id": f"survey:{survey.token}:broken", "title": "No, still broken"}]
    assert (survey.state, survey.step) == ("sent", "fixed")
    open_for = timedelta(days=settings.RASAD_SURVEY_EXPIRES_DAYS)
    assert survey.expires_at - survey.sent_at == open_for
    notification = Notification.objects.get(kind="survey")
    assert (notification.report, notification.dedupe_key) == (report, f"survey:{survey.pk}:ask")


def test_outside_the_24_hour_window_the_survey_template_is_sent(category, make_report,
                                                                dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact(
        hours_since_last_message=25))
    resolve(report.incident, dispatcher)
    delay_over()

    surveys_send_due()
    outbox_send()

    (sent,) = fake_providers.sent_to("whatsapp")
    assert sent["body"]["type"] == "template"
    assert sent["body"]["template"] == {
        "name": "rasad_survey", "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": report.tracking_code}]}]}


# -- Answers on the channel ------------------------------------------------------------------

def test_fixed_then_a_rating_then_a_comment_are_stored_and_the_fix_confirmed(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    outbox_send()

    whatsapp_say(client, p.wa_button_reply(WA_ID, f"survey:{survey.token}:fixed",
                                           "Yes, it is fixed"))

    assert Incident.objects.get(pk=report.incident_id).status == "closed"
    rating = fake_providers.sent_to("whatsapp")[-1]["body"]["interactive"]
    assert rating["type"] == "list"
    assert rating["body"]["text"] == (
        "Thank you! We are glad it is fixed.\n\nHow satisfied are you with how the city "
        "handled your report? Choose from 1 (very dissatisfied) to 5 (very satisfied).")
    assert [(r["id"], r["title"]) for r in rating["action"]["sections"][0]["rows"]] == [
        (f"survey:{survey.token}:rate:1", "Very dissatisfied"),
        (f"survey:{survey.token}:rate:2", "Dissatisfied"),
        (f"survey:{survey.token}:rate:3", "Neutral"),
        (f"survey:{survey.token}:rate:4", "Satisfied"),
        (f"survey:{survey.token}:rate:5", "Very satisfied")]
    assert survey_fields(survey)[:4] == ("sent", "rating", True, None)

    whatsapp_say(client, p.wa_list_reply(WA_ID, f"survey:{survey.token}:rate:4", "Satisfied"))

    comment = fake_providers.sent_to("whatsapp")[-1]["body"]["interactive"]
    assert comment["body"]["text"] == ("Thank you!\n\nWould you like to tell us anything "
                                       "else? Send a comment, or SKIP.")
    assert [b["reply"]["id"] for b in comment["action"]["buttons"]] == [
        f"survey:{survey.token}:skip"]
    state, step, fixed, rated, _comment, answered_at = survey_fields(survey)
    assert (state, step, fixed, rated, answered_at is not None) == ("answered", "comment",
                                                                    True, 4, True)

    whatsapp_say(client, p.wa_text(WA_ID, "Quick work, thank you"))

    assert survey_fields(survey) == ("answered", "done", True, 4, "Quick work, thank you",
                                     answered_at)
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        "Thank you for your answers. They help the city do better.")
    assert not Conversation.objects.exists()


def test_not_fixed_reopens_the_report_and_ends_the_survey(client, category, make_report,
                                                          dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)

    whatsapp_say(client, p.wa_button_reply(WA_ID, f"survey:{survey.token}:broken",
                                           "No, still broken"))

    incident = Incident.objects.get(pk=report.incident_id)
    assert incident.status == "reopened"
    assert incident.updates.get(to_status="reopened").note == (
        "Reopened by the reporter: Not fixed, says the reporter in the satisfaction survey "
        "(WhatsApp).")
    state, step, fixed, rating, _comment, answered_at = survey_fields(survey)
    assert (state, step, fixed, rating, answered_at is not None) == ("answered", "done", False,
                                                                     None, True)
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        f"Thank you for telling us. We have reopened your report {report.tracking_code} and "
        "told the team.")


def test_a_typed_no_after_the_reopen_window_asks_for_a_new_report(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    Incident.objects.filter(pk=report.incident_id).update(
        resolved_at=timezone.now() - timedelta(days=settings.RASAD_REOPEN_DAYS + 1))

    whatsapp_say(client, p.wa_text(WA_ID, "no"))

    assert Incident.objects.get(pk=report.incident_id).status == "resolved"
    assert survey_fields(survey)[:3] == ("answered", "done", False)
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        "Thank you for telling us. It is more than 14 days since it was marked as fixed, so "
        "it cannot be reopened: please report the problem again. To report it again, send "
        "NEW.")


def test_a_message_that_answers_no_question_goes_on_to_the_dialogue(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    before = survey_fields(survey)

    whatsapp_say(client, p.wa_text(WA_ID, "There is a fallen tree on the bike path"))

    assert survey_fields(survey) == before
    assert Conversation.objects.get().data["description"] == (
        "There is a fallen tree on the bike path")


def test_a_button_of_an_answered_survey_says_so_and_changes_nothing(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    whatsapp_say(client, p.wa_button_reply(WA_ID, f"survey:{survey.token}:broken",
                                           "No, still broken"))
    before = survey_fields(survey)

    whatsapp_say(client, p.wa_button_reply(WA_ID, f"survey:{survey.token}:fixed",
                                           "Yes, it is fixed"))

    assert survey_fields(survey) == before
    assert Incident.objects.get(pk=report.incident_id).status == "reopened"
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        "You have already answered this survey. Thank you!")


def test_an_sms_survey_is_answered_by_numbers(client, category, make_report, dispatcher,
                                              fake_providers):
    report = make_report(category, reporter_phone=PHONE)
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    outbox_send()

    sms_say(client, "1")
    sms_say(client, "5")
    sms_say(client, "skip")

    question, rating, comment, done = texts_sent(fake_providers, "sms")
    assert question == (
        f"The city marked your report {report.tracking_code} (Pothole) as fixed. Is the "
        "problem really fixed?\nYou can also answer on this page: "
        f"http://127.0.0.1:8000/survey/{survey.token}/\n\n1. Yes, it is fixed\n"
        "2. No, still broken")
    assert rating.endswith("(very satisfied).\n\n1. Very dissatisfied\n2. Dissatisfied\n"
                           "3. Neutral\n4. Satisfied\n5. Very satisfied")
    assert comment.endswith("Send a comment, or SKIP.\n\n1. No comment")
    assert done == "Thank you for your answers. They help the city do better."
    assert {s["to"] for s in fake_providers.sent_to("sms")} == {PHONE}
    assert survey_fields(survey)[:5] == ("answered", "done", True, 5, "")
    assert Incident.objects.get(pk=report.incident_id).status == "closed"


def test_an_email_survey_says_it_is_automatic_and_numbers_its_answers(category, make_report,
                                                                      dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)

    assert outbox_send() == ["sent"]

    (message,) = mail.outbox
    assert (message.to, message.subject) == (["a@example.org"],
                                             f"Is it fixed? Your report {report.tracking_code}")
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert message.body.endswith(f"/survey/{survey.token}/\n\n1. Yes, it is fixed\n"
                                 "2. No, still broken")


# -- Reminder, expiry, round 2 ---------------------------------------------------------------

def test_an_unanswered_survey_is_reminded_once(category, make_report, dispatcher,
                                               fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    hours = settings.RASAD_SURVEY_REMINDER_HOURS

    Survey.objects.filter(pk=survey.pk).update(sent_at=timezone.now() - timedelta(hours=hours - 1))
    assert surveys_remind_due() == 0
    Survey.objects.filter(pk=survey.pk).update(sent_at=timezone.now() - timedelta(hours=hours + 1))
    assert surveys_remind_due() == 1
    assert surveys_remind_due() == 0
    outbox_send()

    assert list(Notification.objects.filter(kind="survey").order_by("pk")
                .values_list("dedupe_key", flat=True)) == [f"survey:{survey.pk}:ask",
                                                           f"survey:{survey.pk}:remind"]
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith(
        f"Reminder: The city marked your report {report.tracking_code} (Pothole) as fixed.")
    survey.refresh_from_db()
    assert (survey.state, survey.reminded_at is not None) == ("reminded", True)


def test_an_unanswered_survey_expires_and_its_link_then_answers_410(
        client, category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert surveys_expire() == {"expired": 1, "answered": 0}
    before = survey_fields(survey)
    response = client.post(f"/survey/{survey.token}/", {"fixed": "no", "rating": "1"})

    assert response.status_code == 410
    assert "This survey has closed." in response.content.decode()
    assert before[:2] == ("expired", "done")
    assert survey_fields(survey) == before
    assert Incident.objects.get(pk=report.incident_id).status == "resolved"
    assert surveys_remind_due() == 0


def test_a_fix_confirmed_without_a_rating_counts_as_answered_when_the_survey_closes(
        client, category, make_report, dispatcher, fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)
    whatsapp_say(client, p.wa_text(WA_ID, "yes"))
    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert surveys_expire() == {"expired": 0, "answered": 1}

    state, step, fixed, rating, _comment, answered_at = survey_fields(survey)
    assert (state, step, fixed, rating, answered_at is not None) == ("answered", "done", True,
                                                                     None, True)


def test_weeks_later_an_unconfirmed_fix_is_asked_again(category, make_report, dispatcher,
                                                        fake_providers):
    report = report_on_whatsapp(make_report, category, whatsapp_contact())
    confirmed = make_report(category, *offset(*CENTRE, east_m=500), reporter_email="b@example.org")
    resolve(report.incident, dispatcher)
    incident_transition(incident=resolve(confirmed.incident, dispatcher), to=Status.CLOSED,
                        by=None)
    Survey.objects.update(state="expired", step="done")  # round 1 came and went
    weeks_ago = timezone.now() - timedelta(weeks=settings.RASAD_SURVEY_FOLLOWUP_WEEKS, hours=1)
    Incident.objects.update(resolved_at=weeks_ago)

    assert surveys_followup_schedule() == 1
    assert surveys_followup_schedule() == 0
    assert surveys_send_due() == 1
    outbox_send()

    survey = Survey.objects.get(round=2)
    assert (survey.report, survey.state) == (report, "sent")
    assert texts_sent(fake_providers, "whatsapp") == [
        f"Some weeks ago the city marked your report {report.tracking_code} (Pothole) as "
        "fixed, and nobody has confirmed it since. Has it been fixed?\nYou can also answer on "
        f"this page: http://127.0.0.1:8000/survey/{survey.token}/"]


def test_a_fix_confirmed_before_round_2_is_sent_cancels_it(category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    incident = resolve(report.incident, dispatcher)
    Survey.objects.update(state="expired", step="done")
    Incident.objects.update(resolved_at=timezone.now() - timedelta(
        weeks=settings.RASAD_SURVEY_FOLLOWUP_WEEKS, hours=1))
    surveys_followup_schedule()

    incident_transition(incident=incident, to=Status.CLOSED, by=None)

    assert surveys_send_due() == 0
    assert Survey.objects.get(round=2).state == "cancelled"


# -- The link --------------------------------------------------------------------------------

@pytest.fixture
def web_survey(category, make_report, dispatcher) -> Survey:
    report = make_report(category, reporter_email="a@example.org")
    resolve(report.incident, dispatcher)
    return survey_sent(report)


def test_the_link_opens_the_survey_without_an_account(client, web_survey):
    response = client.get(f"/survey/{web_survey.token}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert response["Cache-Control"] == "private, no-store"
    assert web_survey.report.tracking_code in page
    assert "Is the problem really fixed?" in page
    assert page.count('name="rating"') == 5
    assert 'name="csrfmiddlewaretoken"' in page


def test_the_link_takes_the_answers_once_and_a_second_answer_is_409(client, web_survey):
    url = f"/survey/{web_survey.token}/"

    first = client.post(url, {"fixed": "yes", "rating": "4", "comment": "Fast, thanks"})
    stored = survey_fields(web_survey)
    second = client.post(url, {"fixed": "no", "rating": "1", "comment": "Changed my mind"})

    assert first.status_code == 200
    assert "Thank you! We are glad it is fixed." in first.content.decode()
    assert (stored[:5], stored[5] is not None) == (("answered", "done", True, 4, "Fast, thanks"),
                                                    True)
    assert second.status_code == 409
    assert "You have already answered this survey. Thank you!" in second.content.decode()
    assert survey_fields(web_survey) == stored
    assert Incident.objects.get(pk=web_survey.report.incident_id).status == "closed"
    assert client.get(url).status_code == 409


def test_not_fixed_on_the_page_reopens_the_report(client, web_survey):
    response = client.post(f"/survey/{web_survey.token}/", {"fixed": "no", "rating": "2",
                                                            "comment": "Only half filled"})

    assert response.status_code == 200
    incident = Incident.objects.get(pk=web_survey.report.incident_id)
    assert incident.status == "reopened"
    assert incident.updates.get(to_status="reopened").note == (
        "Reopened by the reporter: Not fixed, says the reporter in the satisfaction survey "
        "(web page): Only half filled")
    assert survey_fields(web_survey)[:5] == ("answered", "done", False, 2, "Only half filled")


@pytest.mark.parametrize(("data", "field"), [
    ({"fixed": "yes", "rating": "0"}, "rating"),
    ({"fixed": "yes", "rating": "6"}, "rating"),
    ({"fixed": "yes", "rating": "four"}, "rating"),
    ({"rating": "4"}, "fixed"),
    ({"fixed": "yes", "comment": "x" * 2001}, "comment"),
])
def test_an_answer_that_cannot_be_taken_is_400_and_changes_nothing(client, web_survey, data,
                                                                   field):
    before = survey_fields(web_survey)

    response = client.post(f"/survey/{web_survey.token}/", data)

    assert response.status_code == 400
    assert f'data-error-for="{field}"' in response.content.decode()
    assert survey_fields(web_survey) == before
    assert Incident.objects.get(pk=web_survey.report.incident_id).status == "resolved"


@pytest.mark.parametrize("token", ["6f1c2a9e-8d4b-4f7a-9c3e-2b5d7e1f0a46", "not-a-token"])
def test_an_unknown_link_is_404(client, web_survey, token):
    response = client.get(f"/survey/{token}/")

    assert response.status_code == 404
    assert "We could not find this survey" in response.content.decode()


def test_a_survey_not_sent_yet_has_no_page(client, category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    resolve(report.incident, dispatcher)

    response = client.get(f"/survey/{Survey.objects.get().token}/")

    assert response.status_code == 404


def test_the_page_speaks_the_reports_language_unless_the_reader_chose_one(
        client, category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org", language="ar")
    resolve(report.incident, dispatcher)
    survey = survey_sent(report)

    arabic = client.get(f"/survey/{survey.token}/")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fa"
    persian = client.get(f"/survey/{survey.token}/")

    assert (arabic.status_code, arabic["Content-Language"]) == (200, "ar")
    assert '<html lang="ar" dir="rtl">' in arabic.content.decode()
    assert "حفرة" in arabic.content.decode()  # the category in Arabic
    assert persian["Content-Language"] == "fa"
    assert '<html lang="fa" dir="rtl">' in persian.content.decode()


def test_the_api_answers_once(api_client, web_survey):
    url = f"/api/v1/survey/{web_survey.token}/"

    question = api_client.get(url)
    first = api_client.post(url, {"fixed": True, "rating": 5}, format="json")
    stored = survey_fields(web_survey)
    second = api_client.post(url, {"fixed": False}, format="json")

    assert question.status_code == 200
    assert (question.json()["tracking_code"], question.json()["round"]) == (
        web_survey.report.tracking_code, 1)
    assert [r["value"] for r in question.json()["ratings"]] == [1, 2, 3, 4, 5]
    assert (first.status_code, first.json()["outcome"], first.json()["state"]) == (
        200, "confirmed", "answered")
    assert (second.status_code, second.json()["code"]) == (409, "already_answered")
    assert survey_fields(web_survey) == stored
    assert api_client.get(url).status_code == 409


@pytest.mark.parametrize(("body", "field"), [({"fixed": True, "rating": 9}, "rating"),
                                              ({"fixed": True, "rating": "x"}, "rating"),
                                              ({"rating": 3}, "fixed")])
def test_the_api_refuses_a_bad_answer_with_400(api_client, web_survey, body, field):
    before = survey_fields(web_survey)

    response = api_client.post(f"/api/v1/survey/{web_survey.token}/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert survey_fields(web_survey) == before


def test_the_api_says_410_once_the_survey_closed(api_client, web_survey):
    Survey.objects.filter(pk=web_survey.pk).update(expires_at=timezone.now())

    response = api_client.post(f"/api/v1/survey/{web_survey.token}/", {"fixed": True},
                               format="json")

    assert (response.status_code, response.json()["code"]) == (410, "expired")
    assert survey_fields(web_survey)[:3] == ("sent", "fixed", None)


def test_the_admin_lists_the_answers_and_cannot_change_them(client, web_survey):
    from django.contrib.auth import get_user_model

    client.post(f"/survey/{web_survey.token}/", {"fixed": "yes", "rating": "5",
                                                 "comment": "Lamp works again"})
    boss = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw")
    client.force_login(boss)
    stored = survey_fields(web_survey)

    listing = client.get("/admin/incidents/survey/?q=Lamp")
    change = client.post(f"/admin/incidents/survey/{web_survey.pk}/change/",
                         {"rating": "1", "comment": "edited"})

    assert listing.status_code == 200
    assert "1 survey" in listing.content.decode()
    assert change.status_code == 403
    assert survey_fields(web_survey) == stored
