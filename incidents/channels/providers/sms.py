"""SMS through a Twilio-style provider.

Inbound: a form POST (From, To, Body, MessageSid, NumMedia, MediaUrl0…) signed with
X-Twilio-Signature: base64 of HMAC-SHA1, keyed with the auth token, over the full URL the
provider called followed by every POST parameter's name and value, sorted by name. The
answer is TwiML; an empty <Response/> sends nothing (our replies go through the outbox).
Delivery reports come the same way, with MessageStatus. Outbound: POST
/2010-04-01/Accounts/{AccountSid}/Messages.json with To, From, Body, basic auth."""

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.channels.base import (
    ChannelProvider,
    DeliveryFailed,
    DeliveryReport,
    DeliveryUnavailable,
    Inbound,
    MediaFile,
    MediaRefused,
    Parsed,
    PayloadInvalid,
    SignatureInvalid,
    download,
    http_call,
    json_or_empty,
    numbered,
    plain_options,
)

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read",
              "undelivered": "failed", "failed": "failed"}
# Concatenated SMS stay readable up to about ten segments.
TEXT_MAX = 1530


def form_params(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadInvalid(_("The body is not a form.")) from exc


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's request signature: the URL, then each parameter name and value in name
    order (values of a repeated name in order too), HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(f"{name}{value}" for name, value in sorted(params))
    digest = hmac.new(token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def webhook_urls(request) -> list[str]:
    """The URL the provider called, as it knows it: our public address (a proxy in front
    may change scheme and host), then the path and query it used. Twilio may sign it with
    or without the scheme's default port, so both forms are tried (as its own validator
    does)."""
    from urllib.parse import urlsplit, urlunsplit

    url = f"{settings.RASAD_PUBLIC_URL.rstrip('/')}{request.get_full_path()}"
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if parts.port is None and default:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=parts.hostname)
    else:
        return [url]
    return [url, urlunsplit(other)]


class SmsProvider(ChannelProvider):
    name = "sms"
    channel = "sms"
    secret_setting = "RASAD_SMS_AUTH_TOKEN"
    # The provider answers STOP and START itself and blocks the number meanwhile.
    confirms_opt_out = True

    def verify(self, request, body: bytes) -> None:
        token = settings.RASAD_SMS_AUTH_TOKEN
        given = request.headers.get("X-Twilio-Signature", "").encode()
        try:
            params = form_params(body)
        except PayloadInvalid as exc:
            # What is not a UTF-8 form cannot be checked, so it is not the provider's.
            raise SignatureInvalid(_("The X-Twilio-Signature signature does not match.")) \
                from exc
        if not token or not any(
                hmac.compare_digest(given, twilio_signature(token, url, params).encode())
                for url in webhook_urls(request)):
            raise SignatureInvalid(_("The X-Twilio-Signature signature does not match."))

    def parse(self, request, body: bytes) -> Parsed:
        params = dict(form_params(body))
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if not sid:
            raise PayloadInvalid(_("MessageSid is missing."))
        if "MessageStatus" in params and "Body" not in params:
            status = STATUS_MAP.get(params["MessageStatus"])
            if status is None:  # queued, accepted, sending: nothing to record
                return Parsed()
            error = params.get("ErrorCode", "")
            return Parsed(reports=[DeliveryReport(
                provider_message_id=sid, status=status, at=timezone.now(),
                error=f"error {error}" if error else "")])
        sender = params.get("From", "").strip()
        if not sender:
            raise PayloadInvalid(_("From is missing."))
        try:
            count = int(params.get("NumMedia") or 0)
        except ValueError as exc:
            raise PayloadInvalid(_("NumMedia is not a number.")) from exc
        media = [{"ref": params[f"MediaUrl{i}"], "mime": params.get(f"MediaContentType{i}", "")}
                 for i in range(min(count, 10)) if params.get(f"MediaUrl{i}")]
        photos = [m for m in media if m["mime"].startswith("image/")]
        kind = "image" if photos else ("unsupported" if media else "text")
        return Parsed(messages=[Inbound(
            external_id=sid, sender_id=sender, phone=sender, kind=kind,
            provider_type="mms" if media else "sms", sent_at=timezone.now(),
            text=params.get("Body", ""), media=photos or media,
            payload={k: v for k, v in params.items() if k != "AccountSid"})])

    def accepted(self) -> HttpResponse:
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")

    def send(self, notification) -> str:
        sid, token = settings.RASAD_SMS_ACCOUNT_SID, settings.RASAD_SMS_AUTH_TOKEN
        if not sid or not token or not settings.RASAD_SMS_FROM:
            raise DeliveryUnavailable("RASAD_SMS_ACCOUNT_SID is not set")
        text = numbered(notification.body, plain_options(notification.options or []))
        form = {"To": notification.recipient, "From": settings.RASAD_SMS_FROM,
                "Body": text[:TEXT_MAX],
                "StatusCallback": f"{settings.RASAD_PUBLIC_URL.rstrip('/')}/channels/sms/webhook"}
        response = http_call("POST", f"{settings.RASAD_SMS_API_URL}/2010-04-01/Accounts/{sid}"
                             "/Messages.json", data=form, auth=(sid, token))
        data = json_or_empty(response)
        if response.status_code in (200, 201) and data.get("sid"):
            return str(data["sid"])
        detail = f"HTTP {response.status_code} {data.get('code', '')} {data.get('message', '')}"
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryUnavailable(detail.strip())
        raise DeliveryFailed(detail.strip())

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        if not ref.startswith(("http://", "https://")):
            raise MediaRefused(_("The file's address is not a web address."))
        # Media URLs sit on the provider's servers; they may ask for the account's login.
        return download(ref, limit=limit, public_only=True,
                        auth=(settings.RASAD_SMS_ACCOUNT_SID, settings.RASAD_SMS_AUTH_TOKEN))
