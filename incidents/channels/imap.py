"""Email in by IMAP polling: unseen messages of the mailbox are stored exactly as the email
webhook stores a relayed message (Message-ID makes a second sight a no-op), then marked
seen. Off unless RASAD_IMAP_HOST is set."""

import contextlib
import imaplib
import logging

from django.conf import settings

from incidents.channels.base import Parsed, PayloadInvalid
from incidents.channels.ingest import parsed_store
from incidents.channels.providers.email import mail_parse

logger = logging.getLogger(__name__)

BATCH = 100


def _connect() -> imaplib.IMAP4:
    host, port = settings.RASAD_IMAP_HOST, settings.RASAD_IMAP_PORT
    timeout = settings.RASAD_CHANNEL_HTTP_TIMEOUT_S
    if settings.RASAD_IMAP_SSL:
        return imaplib.IMAP4_SSL(host, port, timeout=timeout)
    return imaplib.IMAP4(host, port, timeout=timeout)


def imap_poll() -> int:
    """Store up to BATCH unseen messages; returns how many were new. A message is marked
    seen only after it is stored, so a crash in between shows it again next time, and the
    Message-ID dedupe makes that harmless. One Rasad cannot read (too large, not mail) stays
    unread and is flagged for a person, and later polls pass over it."""
    if not settings.RASAD_IMAP_HOST:
        return 0
    stored = 0
    mailbox = _connect()
    try:
        mailbox.login(settings.RASAD_IMAP_USER, settings.RASAD_IMAP_PASSWORD)
        mailbox.select(settings.RASAD_IMAP_FOLDER)
        status, data = mailbox.uid("SEARCH", None, "UNSEEN UNFLAGGED")
        if status != "OK":
            logger.warning("IMAP search failed: %s", data)
            return 0
        for uid in (data[0] or b"").split()[:BATCH]:
            status, parts = mailbox.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple)), None)
            if status != "OK" or raw is None:
                continue
            if len(raw) > settings.RASAD_EMAIL_MAX_BYTES:
                logger.warning("IMAP message %s is larger than RASAD_EMAIL_MAX_BYTES; left "
                               "unread and flagged in the mailbox", uid)
                mailbox.uid("STORE", uid, "+FLAGS", "(\\Flagged)")
                continue
            try:
                inbound = mail_parse(raw)
            except PayloadInvalid:
                logger.warning("IMAP message %s is not a readable email; left unread and "
                               "flagged", uid)
                mailbox.uid("STORE", uid, "+FLAGS", "(\\Flagged)")
                continue
            stored += len(parsed_store("email", Parsed(messages=[inbound])).message_ids)
            mailbox.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            mailbox.logout()
    return stored
