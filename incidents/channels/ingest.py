"""What a webhook does once the signature is checked: store each message once, record
delivery reports, and wake the worker. Nothing else runs before the provider gets its 200:
Meta retries an answer that is not 2xx and disables a webhook that keeps failing or is slow,
and a storm night's messages must not queue behind the dialogue. The worker's tasks leave
from a background thread, in batches, right after the answer."""

import atexit
import json
import logging
import os
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction

from incidents.channels.base import DeliveryReport, Inbound, Parsed
from ops.db import fetchone_server_bound

logger = logging.getLogger(__name__)

# One statement: the contact is created or refreshed (its last message time opens
# WhatsApp's 24-hour window), and the message is inserted unless (provider, external_id)
# is already there, which makes a redelivery a no-op.
INGEST_SQL = """
WITH contact AS (
    INSERT INTO incidents_channelcontact AS c
        (provider, external_id, display_name, phone, language, language_hint, blocked,
         blocked_reason, opted_out_at, last_inbound_at, created_at, updated_at)
    VALUES (%s, %s, %s, %s, '', %s, false, '', NULL, %s, now(), now())
    ON CONFLICT (provider, external_id) DO UPDATE SET
        last_inbound_at = GREATEST(c.last_inbound_at, EXCLUDED.last_inbound_at),
        display_name = COALESCE(NULLIF(EXCLUDED.display_name, ''), c.display_name),
        phone = COALESCE(NULLIF(c.phone, ''), EXCLUDED.phone),
        language_hint = COALESCE(NULLIF(EXCLUDED.language_hint, ''), c.language_hint),
        updated_at = now()
    RETURNING id
)
INSERT INTO incidents_inboundmessage
    (provider, external_id, contact_id, kind, provider_type, text, choice, lon, lat, media,
     reply_to, sent_at, received_at, state, attempts, error, payload)
SELECT %s, %s, contact.id, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, now(), %s, 0, '',
       %s::jsonb
FROM contact
ON CONFLICT (provider, external_id) DO NOTHING
RETURNING id, contact_id
"""

# Statuses only move forward (they can arrive out of order): sent < delivered < read, and
# failed after any of them.
REPORT_SQL = """
UPDATE incidents_notification SET delivery_status = %s, delivery_updated_at = %s,
    last_error = CASE WHEN %s <> '' THEN %s ELSE last_error END
WHERE provider_message_id = %s AND channel = %s
  AND (CASE delivery_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3
       WHEN 'failed' THEN 4 ELSE 0 END) < %s
"""
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(frozen=True)
class Stored:
    message_ids: list[int]
    contact_ids: list[int]
    duplicates: int
    reports: int


def _media_keep(inbound: Inbound) -> list[str]:
    """Files that came inside the delivery (email attachments) are kept privately now; the
    message refers to them by name. Returns the names, to remove if it was a duplicate."""
    from incidents.models import private_storage

    kept = []
    for item in inbound.media:
        content = item.pop("content", None)
        if content is None:
            continue
        name = private_storage().save(f"inbound-raw/{uuid.uuid4().hex}.bin",
                                      ContentFile(content))
        item["ref"] = f"file:{name}"
        kept.append(name)
    return kept


def message_store(provider: str, inbound: Inbound) -> tuple[int, int] | None:
    """Store one message; (message id, contact id), or None when it was already stored.
    Automatic mail is stored as `ignored`: kept for staff, never answered."""
    kept = _media_keep(inbound)
    state = "ignored" if inbound.auto_submitted else "pending"
    row = fetchone_server_bound(INGEST_SQL, [
        provider, inbound.sender_id[:254], inbound.sender_name[:200], inbound.phone[:20],
        inbound.language_hint[:10], inbound.sent_at,
        provider, inbound.external_id[:300], inbound.kind, inbound.provider_type[:40],
        inbound.text, inbound.choice[:200], inbound.lon, inbound.lat,
        json.dumps(inbound.media), inbound.reply_to[:300], inbound.sent_at, state,
        json.dumps(inbound.payload, default=str),
    ])
    if row is None and kept:
        from incidents.models import private_storage

        for name in kept:
            private_storage().delete(name)
    return row


def report_record(provider: str, report: DeliveryReport) -> None:
    from django.db import connection

    rank = RANK.get(report.status, 0)
    with connection.cursor() as cursor:
        cursor.execute(REPORT_SQL, [report.status, report.at, report.error, report.error,
                                    report.provider_message_id, provider, rank])


def parsed_store(provider: str, parsed: Parsed) -> Stored:
    """Store a delivery's messages and reports, then wake the worker for each contact with
    something new. A broker outage leaves the messages pending for the sweeper."""
    message_ids, contact_ids, duplicates = [], [], 0
    for inbound in parsed.messages:
        row = message_store(provider, inbound)
        if row is None:
            duplicates += 1
            continue
        message_ids.append(row[0])
        if not inbound.auto_submitted and row[1] not in contact_ids:
            contact_ids.append(row[1])
    for report in parsed.reports:
        report_record(provider, report)
    for contact_id in contact_ids:
        # At once in autocommit (the webhook); after the commit inside a transaction.
        transaction.on_commit(lambda contact_id=contact_id: contact_wake(contact_id))
    return Stored(message_ids=message_ids, contact_ids=contact_ids, duplicates=duplicates,
                  reports=len(parsed.reports))


def contact_wake(contact_id: int) -> None:
    """Queue the worker's task for this contact, without waiting for the broker: a
    background thread publishes what the webhooks of this process stored, in batches."""
    from incidents.tasks import channel_contact_process_task as task

    if task.app.conf.task_always_eager:  # the task runs here and now, as the caller expects
        from incidents.services.notify import task_enqueue

        task_enqueue(task, contact_id=contact_id)
        return
    _waker_get().put(contact_id)


_WAKE_WINDOW_S = 0.025  # added to the first answer's delay; a burst shares one batch
_WAKE_MAX_QUEUED = 100_000
_WAKE_RETRY_S = 0.5


def contacts_wake_now(contact_ids: list[int]) -> None:
    """Queue one channel_contact_process_task per contact, in one Redis round trip.

    Celery's `delay` costs about 0.4 ms of CPU per task, more than the rest of the webhook,
    and a round trip to Redis. Here the tasks of a batch share one producer and one
    pipeline (kombu's Producer.batch), the queue is declared with the first of them, and the
    argument reprs for the worker's log are given rather than computed (saferepr is slow):
    about 0.2 ms a task in batches of five. A failed batch is sent once more (a task sent
    twice is harmless: contact_process is idempotent); after that a broker outage leaves the
    messages pending for the sweeper (channel_inbound_sweep_task)."""
    for attempt in (1, 2):
        try:
            _tasks_publish(contact_ids)
            return
        except Exception:
            if attempt == 1:
                time.sleep(_WAKE_RETRY_S)
                continue
            logger.warning("%s contact(s) not woken (%s…); the sweeper will",
                           len(contact_ids), contact_ids[:5], exc_info=True)


def _tasks_publish(contact_ids: list[int]) -> None:
    from incidents.tasks import channel_contact_process_task as task

    with task.app.producer_or_acquire() as producer:
        batch = getattr(producer, "batch", None)  # kombu >= 5.7
        with batch() if batch is not None else nullcontext():
            for index, contact_id in enumerate(contact_ids):
                kwargs = {"contact_id": contact_id}
                task.apply_async(kwargs=kwargs, producer=producer, retry=False,
                                 argsrepr="()", kwargsrepr=repr(kwargs),
                                 **({"declare": []} if index else {}))


class _Waker:
    """A daemon thread publishing the worker's tasks for the contacts the webhooks of this
    process stored messages for. The request only appends the contact under a lock; the
    first of a batch wakes the thread, which waits _WAKE_WINDOW_S for the rest.

    Publishing on the request thread cost more CPU than the rest of the webhook, and the
    request waited for Redis; here a batch shares one producer and one round trip, and a
    contact named twice in a batch gets one task. A process that dies with contacts not yet
    published leaves their messages pending: the sweeper queues them within two minutes."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.ready = threading.Condition(threading.Lock())
        self.pending: dict[int, None] = {}  # insertion-ordered set
        self.thread = threading.Thread(target=self._run, name="rasad-channel-waker",
                                       daemon=True)
        self.thread.start()
        atexit.register(self.flush)

    def put(self, contact_id: int) -> None:
        with self.ready:
            if len(self.pending) >= _WAKE_MAX_QUEUED:
                logger.warning("contact wake-ups backlog full; contact %s left to the sweeper",
                               contact_id)
                return
            first = not self.pending
            self.pending[contact_id] = None
            if first:
                self.ready.notify()

    def _take(self) -> list[int]:
        with self.ready:
            contact_ids, self.pending = list(self.pending), {}
        return contact_ids

    def _run(self) -> None:
        while True:
            with self.ready:
                while not self.pending:
                    self.ready.wait()
            time.sleep(_WAKE_WINDOW_S)
            contact_ids = self._take()
            if contact_ids:  # unless flush() took them meanwhile
                contacts_wake_now(contact_ids)

    def flush(self) -> None:
        """Publish what is pending now (at exit: a short-lived process must not take its
        wake-ups with it)."""
        if os.getpid() == self.pid:
            contact_ids = self._take()
            if contact_ids:
                contacts_wake_now(contact_ids)


_waker: _Waker | None = None
_waker_lock = threading.Lock()


def _waker_get() -> _Waker:
    global _waker
    waker = _waker
    if waker is not None and waker.pid == os.getpid():
        return waker
    with _waker_lock:
        # A forked worker inherits the object but not the thread: start its own.
        if _waker is None or _waker.pid != os.getpid():
            _waker = _Waker()
        return _waker
