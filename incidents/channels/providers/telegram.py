"""Telegram Bot API, and Bale, whose bot API has the same shape on another address.

Inbound: the webhook set with setWebhook(secret_token=…) is called with the header
X-Telegram-Bot-Api-Secret-Token and one Update per POST; `update_id` identifies it. Photos
come as several sizes of one picture (the largest is fetched: getFile, then
{api}/file/bot{token}/{file_path}); inline-keyboard presses come as callback_query, which
the bot must answer. Outbound: sendMessage with an inline keyboard for choices, or a reply
keyboard whose button shares the location."""

import contextlib
import hmac

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.channels.base import (
    LOCATION_OPTION,
    ChannelProvider,
    DeliveryFailed,
    DeliveryUnavailable,
    Inbound,
    MediaFile,
    MediaRefused,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    api_get,
    clip,
    download,
    http_call,
    json_body,
    json_or_empty,
    numbered,
    plain_options,
    too_large_message,
    utc_from_timestamp,
)

TEXT_MAX = 4096
CALLBACK_DATA_MAX_BYTES = 64
# Kinds of message that carry something the bot cannot read (kept for staff).
UNSUPPORTED = ("sticker", "voice", "audio", "video", "video_note", "animation", "document",
               "contact", "poll", "dice", "venue")


class TelegramProvider(ChannelProvider):
    name = "telegram"
    channel = "telegram"
    secret_setting = "RASAD_TELEGRAM_SECRET_TOKEN"
    token_setting = "RASAD_TELEGRAM_BOT_TOKEN"
    api_setting = "RASAD_TELEGRAM_API_URL"
    shares_location = True

    @property
    def api(self) -> str:
        return f"{getattr(settings, self.api_setting)}/bot{getattr(settings, self.token_setting)}"

    def verify(self, request, body: bytes) -> None:
        secret = getattr(settings, self.secret_setting, "")
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise SignatureInvalid(_("The X-Telegram-Bot-Api-Secret-Token header does not "
                                     "match."))

    def parse(self, request, body: bytes) -> Parsed:
        update = json_body(body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            raise PayloadInvalid(_("The update has no update_id."))
        try:
            if isinstance(update.get("message"), dict):
                return Parsed(messages=[self._message(update_id, update["message"])])
            if isinstance(update.get("callback_query"), dict):
                return Parsed(messages=[self._callback(update_id, update["callback_query"])])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PayloadInvalid(_("The update does not have the shape of a Telegram "
                                   "update.")) from exc
        # Edits, channel posts, membership changes: nothing a citizen asks of us.
        return Parsed()

    @staticmethod
    def _sender(message: dict) -> tuple[str, str, str]:
        person = message.get("from") or {}
        name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
        return str(message["chat"]["id"]), name, str(person.get("language_code") or "")

    def _message(self, update_id: int, message: dict) -> Inbound:
        chat_id, name, hint = self._sender(message)
        inbound = Inbound(external_id=str(update_id), sender_id=chat_id, kind="text",
                          sent_at=utc_from_timestamp(message.get("date")), sender_name=name,
                          language_hint=hint, text=str(message.get("text") or
                                                       message.get("caption") or ""),
                          reply_to=str((message.get("reply_to_message") or {})
                                       .get("message_id", "")),
                          payload=message)
        if message.get("photo"):
            sizes = message["photo"]
            largest = max(sizes, key=lambda s: (s.get("file_size") or 0,
                                                s.get("width", 0) * s.get("height", 0)))
            inbound.kind, inbound.provider_type = "image", "photo"
            inbound.media = [{"ref": str(largest["file_id"]), "mime": "image/jpeg",
                              "size": largest.get("file_size") or 0}]
        elif str((message.get("document") or {}).get("mime_type", "")).startswith("image/"):
            document = message["document"]
            inbound.kind, inbound.provider_type = "image", "document"
            inbound.media = [{"ref": str(document["file_id"]), "mime": document["mime_type"],
                              "size": document.get("file_size") or 0}]
        elif isinstance(message.get("location"), dict):
            inbound.kind, inbound.provider_type = "location", "location"
            inbound.lat = float(message["location"]["latitude"])
            inbound.lon = float(message["location"]["longitude"])
        else:
            other = next((k for k in UNSUPPORTED if k in message), None)
            if other is not None:
                inbound.kind, inbound.provider_type = "unsupported", other
                media = message.get(other)
                if isinstance(media, dict) and media.get("file_id"):
                    inbound.media = [{"ref": str(media["file_id"]),
                                      "mime": media.get("mime_type", ""),
                                      "size": media.get("file_size") or 0}]
            elif not inbound.text:
                inbound.kind, inbound.provider_type = "unsupported", "other"
        return inbound

    def _callback(self, update_id: int, query: dict) -> Inbound:
        message = query.get("message") or {}
        person = query.get("from") or {}
        chat_id = str((message.get("chat") or {}).get("id") or person["id"])
        name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
        # A callback query has no date; its message's date is when the bot asked, maybe
        # long before the press. The press is now (Telegram delivers it at once), which
        # keeps it after what the citizen typed before pressing.
        return Inbound(external_id=str(update_id), sender_id=chat_id, kind="choice",
                       provider_type="callback_query", sent_at=timezone.now(),
                       sender_name=name, language_hint=str(person.get("language_code") or ""),
                       choice=str(query.get("data") or ""),
                       reply_to=str(message.get("message_id", "")),
                       payload={"callback_query_id": str(query.get("id", "")),
                                "data": query.get("data"), "from": person})

    # Outbound ------------------------------------------------------------------------

    def message_body(self, notification) -> dict:
        options = plain_options(notification.options or [])
        body = {"chat_id": _chat_id(notification.recipient),
                "text": clip(notification.body, TEXT_MAX)}
        usable = [o for o in options
                  if len(o["id"].encode()) <= CALLBACK_DATA_MAX_BYTES]
        if options and len(usable) == len(options):
            body["reply_markup"] = {"inline_keyboard": [
                [{"text": o["title"], "callback_data": o["id"]}] for o in options]}
        elif options:
            body["text"] = clip(numbered(notification.body, options), TEXT_MAX)
        elif any(o.get("id") == LOCATION_OPTION for o in notification.options or []):
            button = next(o for o in notification.options if o["id"] == LOCATION_OPTION)
            body["reply_markup"] = {"keyboard": [[{"text": button["title"],
                                                   "request_location": True}]],
                                    "resize_keyboard": True, "one_time_keyboard": True}
        else:
            body["reply_markup"] = {"remove_keyboard": True}
        if notification.reply_to.isdigit():
            body["reply_parameters"] = {"message_id": int(notification.reply_to),
                                        "allow_sending_without_reply": True}
        return body

    def send(self, notification) -> str:
        if not getattr(settings, self.token_setting, ""):
            raise DeliveryUnavailable(f"{self.token_setting} is not set")
        response = http_call("POST", f"{self.api}/sendMessage",
                             json=self.message_body(notification))
        data = json_or_empty(response)
        if data.get("ok") and isinstance(data.get("result"), dict):
            return str(data["result"].get("message_id", ""))
        detail = f"HTTP {response.status_code}: {data.get('description', '')}".strip()
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryUnavailable(detail)
        # 400 chat not found, 403 the bot was blocked by the user: never deliverable.
        raise DeliveryFailed(detail)

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        response = api_get(f"{self.api}/getFile", params={"file_id": ref})
        data = json_or_empty(response)
        result = data.get("result") or {}
        if not data.get("ok") or not result.get("file_path"):
            # Bots may download files of up to 20 MB; getFile refuses bigger ones.
            raise MediaRefused(data.get("description") or
                               _("Telegram no longer has this file."))
        if (result.get("file_size") or 0) > limit:
            raise MediaRefused(too_large_message(limit))
        base = getattr(settings, self.api_setting)
        token = getattr(settings, self.token_setting)
        return download(f"{base}/file/bot{token}/{result['file_path']}", limit=limit,
                        public_only=False)

    def acknowledge(self, message) -> None:
        """Stop the spinner on the pressed button (callback queries must be answered)."""
        query_id = (message.payload or {}).get("callback_query_id")
        if not query_id:
            return
        # Cosmetic: the dialogue's answer goes through the outbox anyway.
        with contextlib.suppress(DeliveryUnavailable):
            http_call("POST", f"{self.api}/answerCallbackQuery",
                      json={"callback_query_id": query_id})


class BaleProvider(TelegramProvider):
    """Bale (بله): Telegram's Bot API on tapi.bale.ai. Whether Bale sends Telegram's secret
    header is not documented, so the secret may also be the last segment of the webhook's
    path (setWebhook url=…/channels/bale/webhook/<secret>)."""

    name = "bale"
    channel = "bale"
    secret_setting = "RASAD_BALE_SECRET_TOKEN"
    token_setting = "RASAD_BALE_BOT_TOKEN"
    api_setting = "RASAD_BALE_API_URL"

    def verify(self, request, body: bytes) -> None:
        secret = getattr(settings, self.secret_setting, "").encode()
        in_path = (getattr(request, "resolver_match", None) and
                   request.resolver_match.kwargs.get("path_secret", "")) or ""
        if secret and in_path and hmac.compare_digest(in_path.encode(), secret):
            return
        super().verify(request, body)


def _chat_id(recipient: str):
    return int(recipient) if recipient.lstrip("-").isdigit() else recipient
