"""Facebook Messenger: the Page's messages and the comments on its posts.

Inbound: the same signed webhook as WhatsApp (X-Hub-Signature-256), object "page", with
entry[].messaging[] events (message, postback) and entry[].changes[] from the Page feed
(comments, which go to the verification inbox). Messenger has had no location button since
2019: the dialogue asks for a street, a landmark or a map link, and still reads a location
attachment if one comes. Outbound: POST /me/messages with the page token; within 24 hours of
the citizen's message a RESPONSE, later only with a message tag; a comment is answered with
a private reply (recipient.comment_id)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.channels.base import (
    DeliveryFailed,
    DeliveryUnavailable,
    Inbound,
    MediaFile,
    MediaRefused,
    MetaSignedProvider,
    Parsed,
    PayloadInvalid,
    clip,
    download,
    http_call,
    json_body,
    json_or_empty,
    numbered,
    plain_options,
)

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
QUICK_REPLIES_MAX, QUICK_REPLY_TITLE_MAX = 13, 20
TEXT_MAX = 2000
COMMENT_PREFIX = "comment:"


def _sent_at(milliseconds):
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise PayloadInvalid(f"bad timestamp {milliseconds!r}") from exc


class MessengerProvider(MetaSignedProvider):
    name = "messenger"
    channel = "messenger"
    secret_setting = "RASAD_MESSENGER_APP_SECRET"
    verify_token_setting = "RASAD_MESSENGER_VERIFY_TOKEN"

    def parse(self, request, body: bytes) -> Parsed:
        data = json_body(body)
        if data.get("object") != "page":
            raise PayloadInvalid(_("This is not a Page event."))
        parsed = Parsed()
        try:
            for entry in data.get("entry") or []:
                for event in entry.get("messaging") or []:
                    inbound = self._event(event)
                    if inbound is not None:
                        parsed.messages.append(inbound)
                for change in entry.get("changes") or []:
                    inbound = self._comment(change, page_id=str(entry.get("id", "")))
                    if inbound is not None:
                        parsed.messages.append(inbound)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PayloadInvalid(_("The event does not have the shape of a Messenger "
                                   "webhook.")) from exc
        return parsed

    def _event(self, event: dict) -> Inbound | None:
        sender = str(event["sender"]["id"])
        sent_at = _sent_at(event.get("timestamp"))
        if "postback" in event:
            postback = event["postback"]
            mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}"
            return Inbound(external_id=str(mid), sender_id=sender, kind="choice",
                           provider_type="postback", sent_at=sent_at,
                           choice=str(postback.get("payload", "")),
                           text=str(postback.get("title", "")), payload=event)
        message = event.get("message")
        if not isinstance(message, dict) or message.get("is_echo"):
            return None  # delivery and read events, and echoes of our own messages
        inbound = Inbound(external_id=str(message["mid"]), sender_id=sender, kind="text",
                          provider_type="text", sent_at=sent_at,
                          text=str(message.get("text") or ""),
                          reply_to=str((message.get("reply_to") or {}).get("mid", "")),
                          payload=event)
        if isinstance(message.get("quick_reply"), dict):
            inbound.kind, inbound.provider_type = "choice", "quick_reply"
            inbound.choice = str(message["quick_reply"].get("payload", ""))
            return inbound
        for attachment in message.get("attachments") or []:
            kind, payload = attachment.get("type"), attachment.get("payload") or {}
            if kind == "location" and isinstance(payload.get("coordinates"), dict):
                inbound.kind, inbound.provider_type = "location", "location"
                inbound.lat = float(payload["coordinates"]["lat"])
                inbound.lon = float(payload["coordinates"]["long"])
            elif kind == "image" and payload.get("url") and "sticker_id" not in payload:
                inbound.kind, inbound.provider_type = "image", "image"
                inbound.media.append({"ref": str(payload["url"]), "mime": "image/*"})
            elif inbound.kind == "text":
                inbound.kind = "unsupported"
                inbound.provider_type = "sticker" if "sticker_id" in payload else str(kind)
                if payload.get("url"):
                    inbound.media.append({"ref": str(payload["url"]), "mime": ""})
        return inbound

    @staticmethod
    def _comment(change: dict, *, page_id: str) -> Inbound | None:
        value = change.get("value") or {}
        if change.get("field") != "feed" or value.get("item") != "comment" or \
                value.get("verb") != "add":
            return None
        author = value.get("from") or {}
        if page_id and str(author.get("id", "")) == page_id:
            return None  # the Page's own comment (an agent answering in public)
        created = value.get("created_time")
        # Without the author (Meta withholds it for some users), the comment is its own
        # sender: two strangers' comments must not become one citizen.
        sender = str(author.get("id") or value["comment_id"])
        return Inbound(external_id=f"{COMMENT_PREFIX}{value['comment_id']}",
                       sender_id=f"{COMMENT_PREFIX}{sender}", kind="comment",
                       provider_type="comment", sender_name=str(author.get("name", "")),
                       sent_at=_sent_at(int(created) * 1000) if created else timezone.now(),
                       text=str(value.get("message", "")), payload=value)

    # Outbound ------------------------------------------------------------------------

    def message_body(self, notification, *, now=None) -> dict:
        now = now or timezone.now()
        options = plain_options(notification.options or [])
        message: dict = {"text": clip(notification.body, TEXT_MAX)}
        if options and len(options) <= QUICK_REPLIES_MAX and all(
                len(o["title"]) <= QUICK_REPLY_TITLE_MAX for o in options):
            message["quick_replies"] = [{"content_type": "text", "title": o["title"],
                                         "payload": o["id"]} for o in options]
        elif options:
            message["text"] = clip(numbered(notification.body, options), TEXT_MAX)
        if notification.recipient.startswith(COMMENT_PREFIX):
            # A private reply to a comment: allowed once, within 7 days of the comment.
            return {"recipient": {"comment_id": notification.recipient[len(COMMENT_PREFIX):]},
                    "message": {"text": message["text"]}}
        body = {"recipient": {"id": notification.recipient}, "message": message}
        last = getattr(notification.contact, "last_inbound_at", None)
        since = now - last if last else None
        if since is not None and since < WINDOW:
            body["messaging_type"] = "RESPONSE"
        elif notification.kind == "agent" and since is not None and since < HUMAN_AGENT_WINDOW:
            body |= {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        elif notification.kind == "status":
            body |= {"messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}
        else:
            raise DeliveryFailed(_("More than 24 hours since the citizen's last message; "
                                   "Messenger allows no message of this kind now."))
        return body

    def send(self, notification) -> str:
        token = settings.RASAD_MESSENGER_PAGE_TOKEN
        if not token:
            raise DeliveryUnavailable("RASAD_MESSENGER_PAGE_TOKEN is not set")
        response = http_call("POST", f"{settings.RASAD_MESSENGER_API_URL}/me/messages",
                             params={"access_token": token},
                             json=self.message_body(notification))
        data = json_or_empty(response)
        if response.status_code == 200 and data.get("message_id"):
            return str(data["message_id"])
        raise self.graph_failure(response, data)

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        if not ref.startswith(("http://", "https://")):
            raise MediaRefused(_("The file's address is not a web address."))
        # Attachment URLs are on Facebook's CDN and need no token.
        return download(ref, limit=limit, public_only=True)
