"""Waking the worker after a webhook stored messages: the tasks leave in batches from a
background thread, one per contact, on the real broker."""

import time

import pytest

from fixtures import channel_payloads as p
from incidents.channels import ingest
from ops.celery import app as celery_app
from tests.incidents.channels.conftest import contact, post_whatsapp

TASK = "incidents.tasks.channel_contact_process_task"


def _queued(queue: str, expected: int, timeout_s: float = 10.0) -> list:
    """The messages in the queue once `expected` have arrived (or the timeout passed)."""
    found = []
    deadline = time.monotonic() + timeout_s
    with celery_app.connection_for_write() as connection:
        simple = connection.SimpleQueue(queue)
        while len(found) < expected and time.monotonic() < deadline:
            try:
                message = simple.get(timeout=0.2)
            except simple.Empty:
                continue
            message.ack()
            found.append(message)
        simple.close()
    return found


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_deliveries_queues_one_task_per_contact(client, channel_city, celery_queue,
                                                           monkeypatch):
    monkeypatch.setattr(ingest, "_WAKE_WINDOW_S", 1.0)  # the three deliveries share a batch

    for wa_id, text in (("358401111111", "a tree fell"), ("358402222222", "flooding"),
                        ("358401111111", "on Bulevardi")):
        assert post_whatsapp(client, p.wa_text(wa_id, text)).status_code == 200

    messages = _queued(celery_queue, expected=3, timeout_s=5)
    assert [(m.headers["task"], m.payload[1]) for m in messages] == [
        (TASK, {"contact_id": contact("whatsapp", "358401111111").pk}),
        (TASK, {"contact_id": contact("whatsapp", "358402222222").pk}),
    ]
    assert messages[0].headers["kwargsrepr"] == repr(messages[0].payload[1])


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_queues_no_task(client, channel_city, celery_queue):
    body = p.wa_text("358403333333", "the lamp is out")

    post_whatsapp(client, body)
    assert len(_queued(celery_queue, expected=1)) == 1
    post_whatsapp(client, body)

    assert _queued(celery_queue, expected=1, timeout_s=1) == []
