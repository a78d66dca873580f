"""One interface for every messaging provider.

A provider module turns the provider's webhook into `Inbound` messages and `DeliveryReport`s
(after checking the signature on the raw body), sends outbox rows in the provider's own
format, and fetches the files citizens send. Nothing else in Rasad knows a provider's
format."""

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from incidents.notifications import DeliveryFailed, DeliveryUnavailable


class SignatureInvalid(Exception):
    """The body is not signed with our secret: answered 403, nothing stored."""


class PayloadInvalid(Exception):
    """A signed body we cannot read: answered 400, nothing stored."""


class MediaRefused(Exception):
    """A file that can never be fetched (gone, too large): the citizen is told why."""


@dataclass
class Inbound:
    """One message from a citizen, whatever the provider."""

    external_id: str
    sender_id: str
    kind: str  # InboundMessage.Kind
    sent_at: datetime
    sender_name: str = ""
    phone: str = ""  # E.164, where the provider gives the number
    provider_type: str = ""
    text: str = ""
    choice: str = ""
    lon: float | None = None
    lat: float | None = None
    media: list[dict] = field(default_factory=list)  # [{"ref", "mime", "size"}]
    reply_to: str = ""
    language_hint: str = ""
    auto_submitted: bool = False  # email only: a robot's mail, never answered
    payload: dict = field(default_factory=dict)


@dataclass
class DeliveryReport:
    """What the provider says became of a message we sent."""

    provider_message_id: str
    status: str  # sent, delivered, read, failed
    at: datetime
    error: str = ""


@dataclass
class Parsed:
    messages: list[Inbound] = field(default_factory=list)
    reports: list[DeliveryReport] = field(default_factory=list)


@dataclass
class MediaFile:
    content: bytes
    mime: str


def utc_from_timestamp(value) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise PayloadInvalid(f"bad timestamp {value!r}") from exc


def hmac_sha256_ok(secret: str, body: bytes, signature: str, prefix: str = "sha256=") -> bool:
    if not secret or not signature.startswith(prefix):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature[len(prefix):].strip().lower())


def json_body(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadInvalid(_("The body is not JSON.")) from exc
    if not isinstance(data, dict):
        raise PayloadInvalid(_("The body is not a JSON object."))
    return data


def numbered(body: str, options: list[dict]) -> str:
    """The options as numbered lines under the text, for channels without buttons. The
    numbers are what the dialogue accepts back (options in order, from 1)."""
    if not options:
        return body
    lines = [f"{index}. {option['title']}" for index, option in enumerate(options, start=1)]
    return "\n".join([body, "", *lines])


class ChannelProvider:
    """A provider's adapter. Subclasses set `name` (incidents.models.Provider), `channel`
    (the report channel, incidents.models.Channel) and `secret_setting`."""

    name = ""
    channel = ""
    secret_setting = ""
    # Meta (WhatsApp, Messenger) keeps webhooks verified with a GET handshake.
    verify_token_setting = ""
    max_body_setting = "RASAD_WEBHOOK_MAX_BYTES"
    # Whether the provider itself confirms STOP/START to the citizen (SMS carriers do).
    confirms_opt_out = False
    # Whether the citizen's app has a button to share a location (WhatsApp, Telegram).
    shares_location = False

    @property
    def enabled(self) -> bool:
        return bool(getattr(settings, self.secret_setting, ""))

    @property
    def max_body_bytes(self) -> int:
        return getattr(settings, self.max_body_setting)

    def handshake(self, request: HttpRequest) -> HttpResponse:
        """GET on the webhook: Meta's subscription check (hub.mode, hub.verify_token,
        hub.challenge); other providers have none."""
        token = getattr(settings, self.verify_token_setting, "") if self.verify_token_setting else ""
        if not token:
            return JsonResponse({"detail": _("This webhook takes POST only.")}, status=405)
        query = request.GET
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(
                query.get("hub.verify_token", ""), token):
            return JsonResponse({"detail": _("The verify token does not match.")}, status=403)
        return HttpResponse(query.get("hub.challenge", ""), content_type="text/plain")

    def verify(self, request: HttpRequest, body: bytes) -> None:
        raise NotImplementedError

    def parse(self, request: HttpRequest, body: bytes) -> Parsed:
        raise NotImplementedError

    def accepted(self) -> HttpResponse:
        """The answer to a delivery we stored (Meta and Telegram want a quick 200)."""
        return HttpResponse(status=200)

    def send(self, notification) -> str:
        """Send one outbox row; return the provider's message id. Raises DeliveryUnavailable
        (try again later) or DeliveryFailed (never)."""
        raise NotImplementedError

    def media_fetch(self, ref: str, *, limit: int) -> MediaFile:
        """Fetch a file a citizen sent. Raises MediaRefused or
        incidents.services.media.MediaTemporarilyUnavailable."""
        raise MediaRefused(_("This channel sends no files."))

    def acknowledge(self, message) -> None:
        """Anything the provider wants once a message is handled (Telegram's callback
        answer). Best effort."""


class MetaSignedProvider(ChannelProvider):
    """Meta's webhooks (WhatsApp, Messenger): X-Hub-Signature-256 is "sha256=" and the hex
    HMAC-SHA256 of the raw body, keyed with the app secret. Their send APIs answer errors in
    the Graph API's form."""

    # Graph error codes worth another try: throttling and temporary failures.
    RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048,
                                 131056, 133004})

    @classmethod
    def graph_failure(cls, response, data: dict) -> Exception:
        """The exception for a send the Graph API did not accept."""
        error = data.get("error")
        error = error if isinstance(error, dict) else {}  # a proxy's 5xx is no Graph error
        detail = (f"HTTP {response.status_code} {error.get('code', '')} "
                  f"{error.get('message', '')}").strip()
        if response.status_code >= 500 or response.status_code == 429 or \
                error.get("code") in cls.RETRYABLE_CODES:
            return DeliveryUnavailable(detail)
        return DeliveryFailed(detail)

    def verify(self, request: HttpRequest, body: bytes) -> None:
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not hmac_sha256_ok(getattr(settings, self.secret_setting, ""), body, signature):
            raise SignatureInvalid(_("The X-Hub-Signature-256 signature does not match."))


_client = None


def http_client():
    """One keep-alive client per process for the providers' APIs (a fork gets its own)."""
    import os

    import httpx

    global _client
    if _client is None or _client[0] != os.getpid():
        timeout = settings.RASAD_CHANNEL_HTTP_TIMEOUT_S
        _client = (os.getpid(), httpx.Client(timeout=timeout, trust_env=False))
    return _client[1]


def http_call(method: str, url: str, **kwargs):
    """A request to a provider's API; a network failure is DeliveryUnavailable."""
    import httpx

    try:
        return http_client().request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise DeliveryUnavailable(f"{type(exc).__name__}: {exc}") from exc


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


LOCATION_OPTION = "@location"


def plain_options(options: list[dict]) -> list[dict]:
    """The options a citizen answers by number: all but the special location request."""
    return [o for o in options if o.get("id") != LOCATION_OPTION]


def json_or_empty(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def too_large_message(limit: int) -> str:
    return _("The file is larger than %(mb)s MB, the most we accept.") % {
        "mb": f"{limit / 1024 / 1024:g}"}


def download(url: str, *, limit: int, public_only: bool, headers: dict | None = None,
             auth: tuple[str, str] | None = None) -> MediaFile:
    """Fetch a file with incidents.services.media's checks; a file that can never be had
    is MediaRefused, a failure worth retrying MediaTemporarilyUnavailable."""
    from incidents.exceptions import PhotoRejected
    from incidents.services.media import media_download

    try:
        content, mime = media_download(url, limit=limit, headers=headers, auth=auth,
                                       public_only=public_only,
                                       too_large=too_large_message(limit))
    except PhotoRejected as exc:
        raise MediaRefused(exc.message) from exc
    return MediaFile(content=content, mime=mime.split(";")[0].strip())


def api_get(url: str, **kwargs):
    """A GET on a provider's API while fetching media: a network failure is temporary."""
    from incidents.services.media import MediaTemporarilyUnavailable

    try:
        response = http_call("GET", url, **kwargs)
    except DeliveryUnavailable as exc:
        raise MediaTemporarilyUnavailable(str(exc)) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise MediaTemporarilyUnavailable(f"HTTP {response.status_code}")
    return response
