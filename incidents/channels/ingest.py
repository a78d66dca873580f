"""What a webhook does once the signature is checked: store each message once, record
delivery reports, and wake the worker. Nothing else runs before the provider gets its 200:
Meta retries an answer that is not 2xx and disables a webhook that keeps failing or is slow,
and a storm night's messages must not queue behind the dialogue."""

import json
import logging
import uuid
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
    from incidents.services.notify import task_enqueue
    from incidents.tasks import channel_contact_process_task

    task_enqueue(channel_contact_process_task, contact_id=contact_id)
