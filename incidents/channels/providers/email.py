"""Email: in through a relay that POSTs the raw message (signed), or through IMAP polling
(incidents.channels.imap); out through Django's email backend.

The raw RFC 5322 message is the payload. Its Message-ID makes a second delivery a no-op;
In-Reply-To and References thread a reply onto the report whose message it answers (only
when it comes from the address that message went to). Mail marked as automatic (RFC 3834
Auto-Submitted other than "no", bulk or list Precedence, a null sender) is kept and never
answered, so two robots cannot loop; our own automatic mail says Auto-Submitted too."""

import email
import email.policy
import hashlib
import re
from datetime import UTC
from email.utils import getaddresses, make_msgid, parsedate_to_datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from incidents.channels.base import (
    ChannelProvider,
    DeliveryFailed,
    DeliveryUnavailable,
    Inbound,
    MediaFile,
    MediaRefused,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    hmac_sha256_ok,
    numbered,
    plain_options,
)

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
# Where the quoted original starts in a reply: "On … wrote:", Outlook's header block, ">".
_QUOTE_START = re.compile(
    r"^(On .{0,300} wrote:|-{2,} ?Original Message ?-{2,}|From: .+|>.*|"
    r"في .{0,300} كتب.{0,100}:|در .{0,300} نوشت.{0,100}:)\s*$", re.IGNORECASE)
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def message_ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def reply_text(text: str) -> str:
    """The new part of a reply: what comes before the quoted original and the signature."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line.strip()) or line.rstrip() == "--":
            break
        lines.append(line)
    return "\n".join(lines).strip()


def is_automatic(message) -> bool:
    """RFC 3834 §2: never answer automatic mail. Auto-Submitted other than "no", or the
    older signs of it: bulk/list Precedence, autoresponder headers, a null return path."""
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return True
    if str(message.get("Precedence", "")).strip().lower() in _AUTO_PRECEDENCE:
        return True
    if any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress",
                                    "List-Id", "List-Unsubscribe")):
        return True
    return str(message.get("Return-Path", "")).strip() == "<>"


class EmailProvider(ChannelProvider):
    name = "email"
    channel = "email"
    secret_setting = "RASAD_EMAIL_WEBHOOK_SECRET"
    max_body_setting = "RASAD_EMAIL_MAX_BYTES"

    def verify(self, request, body: bytes) -> None:
        signature = request.headers.get("X-Rasad-Signature", "")
        if not hmac_sha256_ok(settings.RASAD_EMAIL_WEBHOOK_SECRET, body, signature):
            raise SignatureInvalid(_("The X-Rasad-Signature signature does not match."))

    def parse(self, request, body: bytes) -> Parsed:
        return Parsed(messages=[mail_parse(body)])

    # Outbound ------------------------------------------------------------------------

    def send(self, notification) -> str:
        domain = settings.RASAD_EMAIL_ADDRESS.rpartition("@")[2] or "rasad.local"
        message_id = make_msgid(idstring=f"n{notification.pk}", domain=domain)
        headers = {"Message-ID": message_id, "Content-Language": notification.language,
                   "X-Rasad-Message-Id": f"rasad-{notification.pk}"}
        # RFC 3834 §5: what a program writes says so; an agent's answer is a person's.
        if notification.kind == "dialogue":
            headers["Auto-Submitted"] = "auto-replied"
        elif notification.kind in ("status", "survey", "alert", "digest", "notice", "subscribe"):
            headers["Auto-Submitted"] = "auto-generated"
        if notification.reply_to:
            reference = f"<{notification.reply_to}>"
            headers |= {"In-Reply-To": reference, "References": reference}
        body = numbered(notification.body, plain_options(notification.options or []))
        mail = EmailMessage(subject=notification.subject, body=body,
                            to=[notification.recipient], reply_to=[settings.RASAD_EMAIL_ADDRESS],
                            headers=headers)
        try:
            mail.send(fail_silently=False)
        except (OSError, ConnectionError) as exc:
            raise DeliveryUnavailable(str(exc)) from exc
        except (ValueError, UnicodeError) as exc:
            raise DeliveryFailed(str(exc)) from exc
        return message_id.strip("<>")

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        """Attachments were saved privately when the mail came in (ref "file:<name>")."""
        from incidents.models import private_storage

        if not ref.startswith("file:"):
            raise MediaRefused(_("The attachment was not kept."))
        storage = private_storage()
        name = ref[len("file:"):]
        if not storage.exists(name):
            raise MediaRefused(_("The attachment was not kept."))
        if storage.size(name) > limit:
            from incidents.channels.base import too_large_message

            raise MediaRefused(too_large_message(limit))
        with storage.open(name, "rb") as handle:
            return MediaFile(content=handle.read(), mime="")


def mail_parse(raw: bytes) -> Inbound:
    """One email as an Inbound message; attachments carry their bytes ("content") for the
    webhook to keep."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        senders = getaddresses([str(message.get("From", ""))])
    except (ValueError, TypeError, IndexError, LookupError) as exc:
        raise PayloadInvalid(_("The body is not an email message.")) from exc
    name, address = senders[0] if senders else ("", "")
    address = address.strip().lower()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise PayloadInvalid(_("The message has no valid From address.")) from exc
    ids = message_ids(str(message.get("Message-ID", "")))
    external_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        sent_at = parsedate_to_datetime(str(message.get("Date", "")))
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        sent_at = min(sent_at, timezone.now())
    except (TypeError, ValueError, IndexError):
        sent_at = timezone.now()
    text = ""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content()
            text = strip_tags(content) if part.get_content_type() == "text/html" else content
    except (KeyError, LookupError, UnicodeError):
        text = ""
    text = reply_text(text)
    subject = re.sub(r"^\s*((re|fwd?|aw|رد|پاسخ)\s*:\s*)+", "", str(message.get("Subject", "")),
                     flags=re.IGNORECASE).strip()
    media = []
    for index, part in enumerate(message.iter_attachments()):
        mime = part.get_content_type()
        try:
            content = part.get_payload(decode=True) or b""
        except (ValueError, TypeError):
            continue
        media.append({"ref": f"attachment:{index}", "mime": mime, "size": len(content),
                      "filename": str(part.get_filename() or "")[:100], "content": content})
    photos = [m for m in media if m["mime"].startswith("image/")]
    kind = "image" if photos else ("text" if (text or subject) else "unsupported")
    references = message_ids(str(message.get("References", "")))
    in_reply_to = message_ids(str(message.get("In-Reply-To", "")))
    return Inbound(
        external_id=external_id[:300], sender_id=address, sender_name=str(name)[:200],
        kind=kind, provider_type="email", sent_at=sent_at, text=text or subject,
        media=photos or media, reply_to=(in_reply_to or references[-1:] or [""])[0],
        auto_submitted=is_automatic(message),
        payload={"subject": subject[:300], "references": references[-20:],
                 "in_reply_to": in_reply_to[:5], "size": len(raw),
                 "attachments": [{k: m[k] for k in ("mime", "size", "filename")}
                                 for m in media]})
