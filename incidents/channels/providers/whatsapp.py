"""WhatsApp Business Cloud API: webhooks (messages and statuses) and the messages endpoint.

Inbound: a POST signed with X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app
secret) carrying entry[].changes[].value with `messages` and/or `statuses`. Media arrive as
ids, fetched with GET /{media-id} (which answers a short-lived URL) and a GET of that URL,
both with the access token. Outbound: POST /{phone-number-id}/messages; free text, buttons
and lists only within 24 hours of the citizen's last message, a pre-approved template
otherwise."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.channels.base import (
    LOCATION_OPTION,
    DeliveryFailed,
    DeliveryReport,
    DeliveryUnavailable,
    Inbound,
    MediaFile,
    MediaRefused,
    MetaSignedProvider,
    Parsed,
    PayloadInvalid,
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

WINDOW = timedelta(hours=24)
STATUSES = {"sent", "delivered", "read", "failed"}
# Meta's limits on interactive messages.
BUTTONS_MAX, BUTTON_TITLE_MAX = 3, 20
ROWS_MAX, ROW_TITLE_MAX, ROW_DESCRIPTION_MAX = 10, 24, 72
INTERACTIVE_BODY_MAX, TEXT_MAX = 1024, 4096


def _templates(setting: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in getattr(settings, setting) if ":" in item)
    return {language.strip(): name.strip() for language, name in pairs}


def window_open(contact, now=None) -> bool:
    """Free text is allowed for 24 hours after the citizen's last message."""
    last = getattr(contact, "last_inbound_at", None)
    return last is not None and (now or timezone.now()) - last < WINDOW


class WhatsAppProvider(MetaSignedProvider):
    name = "whatsapp"
    channel = "whatsapp"
    secret_setting = "RASAD_WHATSAPP_APP_SECRET"
    verify_token_setting = "RASAD_WHATSAPP_VERIFY_TOKEN"
    shares_location = True

    # Inbound -------------------------------------------------------------------------

    def parse(self, request, body: bytes) -> Parsed:
        data = json_body(body)
        if data.get("object") != "whatsapp_business_account":
            raise PayloadInvalid(_("This is not a WhatsApp Business Account event."))
        parsed = Parsed()
        try:
            for entry in data.get("entry") or []:
                for change in entry.get("changes") or []:
                    value = change.get("value") or {}
                    names = {c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                             for c in value.get("contacts") or []}
                    for message in value.get("messages") or []:
                        parsed.messages.append(self._message(message, names))
                    for status in value.get("statuses") or []:
                        report = self._status(status)
                        if report is not None:
                            parsed.reports.append(report)
        except (AttributeError, TypeError, KeyError) as exc:
            raise PayloadInvalid(_("The event does not have the shape of a WhatsApp "
                                   "webhook.")) from exc
        return parsed

    def _message(self, message: dict, names: dict) -> Inbound:
        sender = str(message["from"])
        if not message.get("id"):
            raise PayloadInvalid(_("A message has no id."))
        kind_name = message.get("type", "")
        inbound = Inbound(external_id=str(message["id"]), sender_id=sender,
                          kind="unsupported", provider_type=kind_name,
                          sent_at=utc_from_timestamp(message.get("timestamp")),
                          sender_name=names.get(sender, ""), phone=f"+{sender.lstrip('+')}",
                          reply_to=str((message.get("context") or {}).get("id", "")),
                          payload=message)
        if kind_name == "text":
            inbound.kind, inbound.text = "text", str((message.get("text") or {}).get("body", ""))
        elif kind_name == "image":
            image = message.get("image") or {}
            inbound.kind, inbound.text = "image", str(image.get("caption", ""))
            inbound.media = [{"ref": str(image["id"]), "mime": image.get("mime_type", "")}]
        elif kind_name == "document" and str((message.get("document") or {})
                                             .get("mime_type", "")).startswith("image/"):
            # A photo sent "as a file" keeps its full size: still a photo.
            document = message["document"]
            inbound.kind, inbound.text = "image", str(document.get("caption", ""))
            inbound.media = [{"ref": str(document["id"]), "mime": document.get("mime_type", "")}]
        elif kind_name == "location":
            location = message.get("location") or {}
            inbound.kind = "location"
            inbound.lat, inbound.lon = float(location["latitude"]), float(location["longitude"])
            inbound.text = " — ".join(str(location[k]) for k in ("name", "address")
                                      if location.get(k))
        elif kind_name == "interactive":
            interactive = message.get("interactive") or {}
            reply = (interactive.get("button_reply") or interactive.get("list_reply") or {})
            inbound.kind, inbound.choice = "choice", str(reply.get("id", ""))
            inbound.text = str(reply.get("title", ""))
        elif kind_name == "button":  # a quick-reply button of a template
            button = message.get("button") or {}
            inbound.kind, inbound.choice = "choice", str(button.get("payload", ""))
            inbound.text = str(button.get("text", ""))
        elif kind_name in ("audio", "voice", "video", "sticker", "document"):
            media = message.get(kind_name) or {}
            if media.get("id"):
                inbound.media = [{"ref": str(media["id"]), "mime": media.get("mime_type", "")}]
            inbound.text = str(media.get("caption", ""))
        return inbound

    @staticmethod
    def _status(status: dict) -> DeliveryReport | None:
        if status.get("status") not in STATUSES or not status.get("id"):
            return None
        errors = status.get("errors") or []
        error = ""
        if errors:
            first = errors[0]
            error = f"{first.get('code', '')} {first.get('title', '')}".strip()
            details = (first.get("error_data") or {}).get("details") or first.get("message")
            if details:
                error = f"{error}: {details}"
        return DeliveryReport(provider_message_id=str(status["id"]), status=status["status"],
                              at=utc_from_timestamp(status.get("timestamp")), error=error[:500])

    # Outbound ------------------------------------------------------------------------

    def message_body(self, notification, *, now=None) -> dict:
        """The JSON body of POST /{phone-number-id}/messages for one outbox row."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": notification.recipient.lstrip("+")}
        if not window_open(notification.contact, now):
            body |= {"type": "template", "template": self._template(notification)}
            return body
        options = plain_options(notification.options or [])
        asks_location = any(o.get("id") == LOCATION_OPTION for o in notification.options or [])
        text = notification.body
        if asks_location and not options:
            body |= {"type": "interactive", "interactive": {
                "type": "location_request_message",
                "body": {"text": clip(text, INTERACTIVE_BODY_MAX)},
                "action": {"name": "send_location"}}}
        elif options and len(options) <= BUTTONS_MAX and all(
                len(o["title"]) <= BUTTON_TITLE_MAX for o in options):
            body |= {"type": "interactive", "interactive": {
                "type": "button", "body": {"text": clip(text, INTERACTIVE_BODY_MAX)},
                "action": {"buttons": [{"type": "reply", "reply": {
                    "id": o["id"], "title": o["title"]}} for o in options]}}}
        elif options and len(options) <= ROWS_MAX:
            body |= {"type": "interactive", "interactive": {
                "type": "list", "body": {"text": clip(text, INTERACTIVE_BODY_MAX)},
                "action": {"button": clip(_("Choose"), BUTTON_TITLE_MAX), "sections": [{
                    "title": clip(_("Choose one"), ROW_TITLE_MAX),
                    "rows": [{"id": o["id"], "title": clip(o["title"], ROW_TITLE_MAX),
                              **({"description": clip(o["title"], ROW_DESCRIPTION_MAX)}
                                 if len(o["title"]) > ROW_TITLE_MAX else {})}
                             for o in options]}]}}}
        else:
            body |= {"type": "text", "text": {"preview_url": False,
                                              "body": clip(numbered(text, options), TEXT_MAX)}}
        if notification.reply_to:
            body["context"] = {"message_id": notification.reply_to}
        return body

    def _template(self, notification) -> dict:
        language = notification.language or "en"
        if notification.kind in ("status", "receipt") and notification.template_params:
            names, parameters = _templates("RASAD_WHATSAPP_TEMPLATES"), notification.template_params
        elif notification.kind == "agent":
            names, parameters = _templates("RASAD_WHATSAPP_REPLY_TEMPLATES"), [notification.body]
        elif notification.kind in ("alert", "digest", "notice", "subscribe"):
            # Area alerts go out whenever something happens, mostly outside the window.
            names, parameters = _templates("RASAD_WHATSAPP_ALERT_TEMPLATES"), [notification.body]
        elif notification.kind == "survey" and notification.template_params:
            # The survey's question; the citizen answers with its quick replies, or in words.
            names = _templates("RASAD_WHATSAPP_SURVEY_TEMPLATES")
            parameters = notification.template_params[:1]
        else:
            # A step of a conversation cannot wait for the citizen's next message.
            raise DeliveryFailed(_("More than 24 hours since the citizen's last message, and "
                                   "no template fits this message."))
        name = names.get(language) or names.get("en")
        if not name:
            raise DeliveryFailed(_("No WhatsApp template is configured for %(language)s.")
                                 % {"language": language})
        return {"name": name, "language": {"code": language},
                "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": clip(str(p), 1024)} for p in parameters]}]}

    def send(self, notification) -> str:
        token, phone_id = (settings.RASAD_WHATSAPP_ACCESS_TOKEN,
                           settings.RASAD_WHATSAPP_PHONE_NUMBER_ID)
        if not token or not phone_id:
            raise DeliveryUnavailable("RASAD_WHATSAPP_ACCESS_TOKEN is not set")
        response = http_call("POST", f"{settings.RASAD_WHATSAPP_API_URL}/{phone_id}/messages",
                             json=self.message_body(notification),
                             headers={"Authorization": f"Bearer {token}"})
        data = json_or_empty(response)
        if response.status_code == 200 and data.get("messages"):
            return str(data["messages"][0]["id"])
        raise self.graph_failure(response, data)

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        """GET /{media-id} answers the file's URL, size and type; the URL is fetched with
        the same token. Both on Meta's servers, named by our configuration."""
        headers = {"Authorization": f"Bearer {settings.RASAD_WHATSAPP_ACCESS_TOKEN}"}
        response = api_get(f"{settings.RASAD_WHATSAPP_API_URL}/{ref}", headers=headers)
        data = json_or_empty(response)
        if response.status_code != 200 or not data.get("url"):
            raise MediaRefused(_("WhatsApp no longer has this file."))
        size = str(data.get("file_size", ""))
        if size.isdigit() and int(size) > limit:
            raise MediaRefused(too_large_message(limit))
        file = download(data["url"], limit=limit, public_only=False, headers=headers)
        return MediaFile(content=file.content, mime=data.get("mime_type") or file.mime)
