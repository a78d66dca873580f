"""Status back to reporters: the outbox is written with the change, sent by a real worker,
and survives a worker that is down."""

import time

import pytest
from django.core import mail

from incidents.models import Notification, Status
from incidents.services import incident_transition
from incidents.services.notify import notification_send, notifications_due_ids
from incidents.tasks import notifications_sweep_task
from ops.celery import app as celery_app
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db


def wait_for(predicate, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_status_change_writes_one_message_per_reporter_with_contact(category, make_report,
                                                                     dispatcher):
    first = make_report(category, reporter_email="a@example.org")
    make_report(category, *offset(*CENTRE, east_m=5), reporter_phone="+358401234567")
    make_report(category, *offset(*CENTRE, east_m=8))  # no contact: nobody to tell

    incident_transition(incident=first.incident, to=Status.VERIFIED, by=dispatcher)

    rows = sorted(Notification.objects.values_list("channel", "recipient", "state"))
    assert rows == [("email", "a@example.org", "pending"), ("sms", "+358401234567", "pending")]


def test_message_names_the_tracking_code_status_and_public_note(category, make_report,
                                                                dispatcher):
    report = make_report(category, reporter_email="a@example.org")

    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher,
                        note="Crew booked for Monday")

    notification = Notification.objects.get()
    assert notification.subject == f"Your report {report.tracking_code}: verified"
    assert f"Your report {report.tracking_code} (Pothole) is now: verified." in notification.body
    assert "Note from the city: Crew booked for Monday" in notification.body
    assert f"/track/{report.tracking_code}/" in notification.body


def test_internal_note_is_not_sent_to_reporters(category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")

    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher,
                        note="Caller sounded drunk", public=False)

    assert "drunk" not in Notification.objects.get().body


def test_sending_marks_sent_and_a_second_send_does_nothing(category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get()

    first = notification_send(notification_id=notification.pk)
    second = notification_send(notification_id=notification.pk)

    assert (first, second) == ("sent", "skipped")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["a@example.org"]
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == ("sent", 1)


def test_sweeper_sends_messages_whose_task_was_lost(category, make_report, dispatcher):
    # In a test transaction the on-commit task never runs: exactly a lost broker message.
    report = make_report(category, reporter_email="a@example.org")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    sent = notifications_sweep_task()

    assert sent == 1
    assert notifications_due_ids() == []
    assert [m.to for m in mail.outbox] == [["a@example.org"]]


def test_sms_provider_outage_is_retried_later_then_sent_once(category, make_report, dispatcher,
                                                             fake_providers):
    report = make_report(category, reporter_phone="+358401234567")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get()
    fake_providers.fail_next["sms"] = 1

    first = notification_send(notification_id=notification.pk)
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=notification.created_at)
    second = notification_send(notification_id=notification.pk)

    assert (first, second) == ("retry", "sent")
    (sent,) = fake_providers.sent_to("sms")
    assert (sent["to"], sent["body"]["From"]) == ("+358401234567", "+358450000137")
    assert sent["body"]["Body"].startswith(f"Your report {report.tracking_code} (Pothole) is "
                                           "now: verified.")
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.provider_message_id) == (
        "sent", 2, sent["id"])


def test_sms_without_a_provider_stays_pending_and_loses_nothing(category, make_report,
                                                                dispatcher, settings):
    settings.RASAD_SMS_ACCOUNT_SID = ""
    report = make_report(category, reporter_phone="+358401234567")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get()

    outcome = notification_send(notification_id=notification.pk)

    notification.refresh_from_db()
    assert outcome == "retry"
    assert notification.state == "pending"
    assert notification.last_error == "RASAD_SMS_ACCOUNT_SID is not set"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_outbox_survives_a_stopped_worker_and_each_message_goes_once(category, make_report,
                                                                     dispatcher, celery_queue):
    from celery.contrib.testing.worker import start_worker

    reports = [make_report(category, *offset(*CENTRE, east_m=4 * i),
                           reporter_email=f"r{i}@example.org") for i in range(3)]
    incident = reports[0].incident
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[celery_queue]):
        incident_transition(incident=incident, to=Status.VERIFIED, by=dispatcher)
        assert wait_for(lambda: len(mail.outbox) == 3)

    # The worker is stopped: this change is committed and its task waits in Redis.
    incident_transition(incident=incident, to=Status.ASSIGNED, by=dispatcher)
    time.sleep(0.5)
    assert len(mail.outbox) == 3
    assert Notification.objects.filter(state="pending").count() == 3

    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[celery_queue]):
        assert wait_for(lambda: len(mail.outbox) == 6)
        notifications_sweep_task()  # the sweeper running too must not send anything twice
        time.sleep(0.5)

    assert len(mail.outbox) == 6
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [f"r{i}@example.org" for i in range(3)] * 2)
    assert Notification.objects.filter(state="sent").count() == 6
