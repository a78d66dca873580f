"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), in JSON and XML.

The suffix of the URL (`.json`, `.xml`) picks the format of every answer, errors included.
Errors follow the spec, with the HTTP status equal to the code:
`[{"code": 400, "description": "…"}]` or
`<errors><error><code>400</code><description>…</description></error></errors>`.

Ids: `service_request_id` is the report's tracking code, `token` its token, `service_code`
the category code. A report's status is `open` while its incident is in OPEN_STATUSES.

Extensions beyond the spec, as other cities implement them:
- `page` and `page_size` on GET requests (default 50, at most 1000); `lat`, `long` and
  `radius` (metres, default 500, at most 5000) to search around a point.
- `extensions=true` (as Chicago and Austin do) adds `extended_attributes` to each request:
  `detailed_status`, the Rasad status; and, for a report that is not the first of its
  incident (it joined one, or its incident was merged into another, which moves the
  reports), `duplicate` and `parent_service_request_id`, both the id of the incident's
  first report. Only on request, so strict clients see the plain spec.
- Service request updates (the extension FixMyStreet reads): `requests/{id}/updates` and
  `servicerequestupdates?service_request_id={id}` list every public status change and
  public note of the request's incident, each with `detailed_status`.
- POST takes an `Idempotency-Key` header or a `client_token` field: a retry with the same
  key and body returns the same request (HTTP 200); the same key with another body is
  refused (422). Multipart POSTs may attach photos as `media` files.
- `locale` (en, ar, fa) or Accept-Language picks the language of names and messages.

Never returned: the reporter's name, email, phone, account or IP. Reads go through
`report_list_public`, which does not select them.
"""

import ipaddress
import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.http import Http404, HttpResponse, QueryDict
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from incidents.codes import tracking_code_normalize
from incidents.exceptions import DomainError, ValidationFailed
from incidents.models import (
    OPEN_STATUSES,
    CategoryAttribute,
    Channel,
    IncidentUpdate,
    Report,
    Status,
)
from incidents.selectors import (
    category_get,
    category_list_active,
    open311_client_get_active,
    report_get_by_token,
    report_get_by_tracking_code,
    report_list_open311,
    report_updates_public,
)
from incidents.services import ReportInput, report_submit
from incidents.services.intake import LANGUAGES, MAX_PHOTOS
from ops.throttles import SubmitRateThrottle

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's behaviour last changed; clients compare it to cached discovery.
CHANGESET = "2026-11-22T00:00:00+00:00"
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_WINDOW = timedelta(days=90)
DEFAULT_RADIUS_M = 500
MAX_RADIUS_M = 5000
MAX_IDEMPOTENCY_KEY = 100
ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
TRUE_VALUES = {"1", "true", "yes", "on"}
# Characters XML 1.0 cannot carry at all, even escaped.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# XML element name of one item of each list-valued field.
XML_ITEM_TAGS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute",
                 "values": "value"}


class Open311Error(Exception):
    """A refusal of this API (bad parameter, bad key, unknown id) with its HTTP status."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# ---- rendering --------------------------------------------------------------------------

def w3c(value: datetime | None) -> str | None:
    """W3C datetime with offset and without microseconds: 2026-11-22T15:03:27+00:00."""
    if value is None:
        return None
    return timezone.localtime(value).replace(microsecond=0).isoformat()


def _xml_fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            sub = ET.SubElement(element, key)
            if isinstance(child, list):
                for item in child:
                    _xml_fill(ET.SubElement(sub, XML_ITEM_TAGS[key]), item)
            else:
                _xml_fill(sub, child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = XML_ILLEGAL.sub("", str(value))


def render(fmt: str, payload, *, root: str, item: str | None = None, status: int = 200,
           headers: dict | None = None) -> HttpResponse:
    """JSON as is; XML as `<root>` holding the payload dict, or one `<item>` per list entry."""
    if fmt == "xml":
        element = ET.Element(root)
        if item is None:
            _xml_fill(element, payload)
        else:
            for entry in payload:
                _xml_fill(ET.SubElement(element, item), entry)
        body = ('<?xml version="1.0" encoding="utf-8"?>\n'
                + ET.tostring(element, encoding="unicode"))
    else:
        body = json.dumps(payload, ensure_ascii=False)
    return HttpResponse(body.encode(), status=status, content_type=CONTENT_TYPES[fmt],
                        headers=headers)


def render_errors(fmt: str, status: int, descriptions: list[str],
                  headers: dict | None = None) -> HttpResponse:
    errors = [{"code": status, "description": text} for text in descriptions]
    return render(fmt, errors, root="errors", item="error", status=status, headers=headers)


def _service(category, language: str) -> dict:
    return {
        "service_code": category.code,
        "service_name": category.name_in(language),
        "description": category.description_in(language),
        "metadata": bool(category.attributes.all()),
        "type": "realtime",
        "keywords": category.keywords,
        "group": category.group,
    }


def _datatype_description(attribute: CategoryAttribute) -> str | None:
    kind = attribute.datatype
    if kind == CategoryAttribute.Datatype.NUMBER:
        low, high = attribute.min_value, attribute.max_value
        if low is not None and high is not None:
            return _("A number from %(low)g to %(high)g.") % {"low": low, "high": high}
        return _("A number.")
    if kind == CategoryAttribute.Datatype.DATETIME:
        return _("A date and time like 2026-01-31T14:00:00+02:00.")
    if kind == CategoryAttribute.Datatype.MULTI:
        return _("One or more keys of the values, as attribute[code][]=key repeated.")
    return None


def _service_definition(category, language: str) -> dict:
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": attribute.code,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "datatype_description": _datatype_description(attribute),
                "order": attribute.order,
                "description": attribute.description_in(language),
                "values": [
                    {"key": str(value["key"]),
                     "name": value.get(f"name_{language}") or value.get("name_en")
                     or str(value["key"])}
                    for value in attribute.values
                ],
            }
            for attribute in category.attributes.all()
        ],
    }


def _service_request(report: Report, request, language: str, *, extensions: bool) -> dict:
    """One report as a GeoReport v2 request. Reads only fields report_list_public selects."""
    notes = getattr(report.incident, "public_notes", [])
    if report.status == Status.REJECTED and report.rejected_reason:
        status_notes = report.rejected_reason
    else:
        status_notes = notes[0].note if notes else None
    photo = next((p for p in report.photos.all() if p.image), None)
    payload = {
        "service_request_id": report.tracking_code,
        "status": "open" if report.status in OPEN_STATUSES else "closed",
        "status_notes": status_notes,
        "service_name": report.category.name_in(language),
        "service_code": report.category.code,
        "description": report.description,
        # While an outside agency has it, that agency is the one responsible.
        "agency_responsible": (report.incident.referred_to.name_in(language)
                               if report.status == Status.REFERRED
                               and report.incident.referred_to_id
                               else report.department.name_in(language)),
        "service_notice": None,
        "requested_datetime": w3c(report.created_at),
        "updated_datetime": w3c(report.updated_at),
        "expected_datetime": w3c(report.incident.sla_due_at),
        "address": report.address,
        "address_id": None,
        "zipcode": None,
        "lat": report.location.y,
        "long": report.location.x,
        "media_url": request.build_absolute_uri(photo.image.url) if photo else None,
    }
    if extensions:
        extended = {"detailed_status": report.status}
        first = report.first_of_incident
        if first and first != report.tracking_code:
            extended["duplicate"] = first
            extended["parent_service_request_id"] = first
        payload["extended_attributes"] = extended
    return payload


def _request_update(update: IncidentUpdate, service_request_id: str) -> dict:
    status = update.status_then or Status.NEW
    return {
        "update_id": str(update.pk),
        "service_request_id": service_request_id,
        "status": "open" if status in OPEN_STATUSES else "closed",
        "description": update.note or (str(Status(update.to_status).label)
                                       if update.to_status else ""),
        "updated_datetime": w3c(update.created_at),
        "media_url": None,
        "detailed_status": status,
    }


# ---- reading parameters -------------------------------------------------------------------

def request_language(request) -> str:
    """`locale` parameter first, then what LocaleMiddleware took from Accept-Language."""
    wanted = (request.GET.get("locale") or "").replace("_", "-").split("-")[0].lower()
    if wanted in LANGUAGES:
        return wanted
    current = (translation.get_language() or "en")[:2]
    return current if current in LANGUAGES else "en"


def _flag(params, name: str) -> bool:
    return (params.get(name) or "").strip().lower() in TRUE_VALUES


def _comma_list(params, name: str) -> list[str]:
    return [part.strip() for part in (params.get(name) or "").split(",") if part.strip()]


def _datetime_param(params, name: str) -> datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise Open311Error(400, _("%(name)s “%(value)s” is not a W3C date and time; write it "
                                  "like 2026-01-31T14:00:00Z.") % {"name": name, "value": raw})
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _number_param(params, name: str, *, default: float | None, low: float,
                  high: float) -> float | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # also NaN
        raise Open311Error(400, _("%(name)s must be a number from %(low)g to %(high)g.")
                           % {"name": name, "low": low, "high": high})
    return value


def _whole_number_param(params, name: str, *, default: int, high: int | None = None) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (high is not None and value > high):
        if high is None:
            raise Open311Error(400, _("%(name)s must be a whole number, 1 or more.")
                               % {"name": name})
        raise Open311Error(400, _("%(name)s must be a whole number from 1 to %(high)s.")
                           % {"name": name, "high": high})
    return value


def _page(params) -> tuple[int, int]:
    return (_whole_number_param(params, "page", default=1),
            _whole_number_param(params, "page_size", default=DEFAULT_PAGE_SIZE,
                                high=MAX_PAGE_SIZE))


def _search_filters(params) -> dict:
    """GET requests parameters → report_list_open311 arguments. `service_request_id`
    overrides every other filter (spec); without `start_date`, the last 90 days."""
    ids = _comma_list(params, "service_request_id")
    if ids:
        return {"tracking_codes": [tracking_code_normalize(i) for i in ids]}
    statuses = {s.lower() for s in _comma_list(params, "status")}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, _("status must be open, closed or both, comma separated."))
    start = _datetime_param(params, "start_date")
    end = _datetime_param(params, "end_date")
    if start and end and start > end:
        raise Open311Error(400, _("start_date must be before end_date."))
    lat = _number_param(params, "lat", default=None, low=-90, high=90)
    lon = _number_param(params, "long", default=None, low=-180, high=180)
    radius_m = _number_param(params, "radius", default=DEFAULT_RADIUS_M, low=1,
                             high=MAX_RADIUS_M)
    if (lat is None) != (lon is None) or (params.get("radius") and lat is None):
        raise Open311Error(400, _("Searching by place needs both lat and long."))
    return {
        "category_codes": _comma_list(params, "service_code"),
        "is_open": statuses == {"open"} if len(statuses) == 1 else None,
        "created_from": start or (end or timezone.now()) - DEFAULT_WINDOW,
        "created_to": end,
        "near": Point(lon, lat, srid=4326) if lat is not None else None,
        "radius_m": radius_m,
    }


def _client_ip(request) -> str | None:
    ident = SubmitRateThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return None


def _field(data: QueryDict, name: str) -> str:
    """A text field of a POST; a file sent under a text field's name counts as absent."""
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def _attribute_answers(data: QueryDict) -> dict:
    """`attribute[code]=v` → "v"; repeated, or as `attribute[code][]=v`, → ["v", …]."""
    answers: dict = {}
    for key in data:
        match = ATTRIBUTE_KEY.match(key)
        if match is None:
            continue
        code, many = match.groups()
        values = [value for value in data.getlist(key) if isinstance(value, str)]
        if code in answers or many or len(values) > 1:
            previous = answers.get(code, [])
            answers[code] = (previous if isinstance(previous, list) else [previous]) + values
        else:
            answers[code] = values[0] if values else ""
    return answers


# ---- views --------------------------------------------------------------------------------

@extend_schema(exclude=True)
class Open311Api(APIView):
    """Base: no session or token auth (POST checks `api_key`), answers in the URL's format."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser]

    def dispatch(self, request, *args, **kwargs):
        language = request_language(request)
        with translation.override(language):
            response = super().dispatch(request, *args, **kwargs)
        response.headers["Content-Language"] = language
        return response

    def perform_content_negotiation(self, request, force=False):
        # The URL suffix decides the format; an Accept header must not turn it into a 406.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @property
    def fmt(self) -> str:
        return self.kwargs.get("fmt", "json")

    @property
    def language(self) -> str:
        return (translation.get_language() or "en")[:2]

    def handle_exception(self, exc):
        if isinstance(exc, Open311Error):
            return render_errors(self.fmt, exc.status, [exc.description])
        if isinstance(exc, ValidationFailed):
            messages = [m for field_messages in exc.errors.values() for m in field_messages]
            return render_errors(self.fmt, exc.http_status, messages)
        if isinstance(exc, DomainError):
            return render_errors(self.fmt, exc.http_status, [exc.message])
        if isinstance(exc, Http404):
            return render_errors(self.fmt, 404, [_("Not found.")])
        if isinstance(exc, exceptions.Throttled):
            wait = math.ceil(exc.wait or 1)
            return render_errors(
                self.fmt, 429, [_("Too many requests; try again in %(n)s seconds.")
                                % {"n": wait}], headers={"Retry-After": str(wait)})
        if isinstance(exc, exceptions.APIException):
            return render_errors(self.fmt, exc.status_code, [str(exc.detail)])
        return super().handle_exception(exc)


class DiscoveryApi(Open311Api):
    def get(self, request, fmt):
        base_url = request.build_absolute_uri(request.path.rsplit("/", 1)[0] + "/")
        payload = {
            "changeset": CHANGESET,
            "contact": getattr(settings, "RASAD_OPEN311_CONTACT", "")
            or _("Write to the city's Open311 administrator."),
            "key_service": getattr(settings, "RASAD_OPEN311_KEY_SERVICE", "")
            or _("API keys for posting requests are issued by the city's Open311 "
                 "administrator."),
            "endpoints": [{
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }],
        }
        return render(fmt, payload, root="discovery")


class ServiceListApi(Open311Api):
    def get(self, request, fmt):
        services = [_service(c, self.language) for c in category_list_active()]
        return render(fmt, services, root="services", item="service")


class ServiceDefinitionApi(Open311Api):
    def get(self, request, fmt, service_code):
        category = category_get(service_code)
        if category is None:
            raise Open311Error(404, _("“%(code)s” is not a known service_code.")
                               % {"code": service_code})
        return render(fmt, _service_definition(category, self.language),
                      root="service_definition")


class ServiceRequestsApi(Open311Api):
    """GET: search requests. POST: create one (needs an active `api_key`; throttled)."""

    throttle_scope = "submit"

    def get_throttles(self):
        return [SubmitRateThrottle()] if self.request.method == "POST" else []

    def get(self, request, fmt):
        params = request.query_params
        extensions = _flag(params, "extensions")
        page, size = _page(params)
        queryset = report_list_open311(extensions=extensions, **_search_filters(params))
        reports = queryset[(page - 1) * size: page * size]
        payload = [_service_request(r, request, self.language, extensions=extensions)
                   for r in reports]
        return render(fmt, payload, root="service_requests", item="request")

    def post(self, request, fmt):
        data = request.data if isinstance(request.data, QueryDict) else QueryDict()
        api_key = _field(data, "api_key") or request.query_params.get("api_key", "").strip()
        client = open311_client_get_active(api_key)
        if client is None:
            raise Open311Error(403, _("A valid api_key is required to post a request.")
                               if api_key else _("api_key is required to post a request."))
        service_code = _field(data, "service_code")
        if not service_code:
            raise Open311Error(400, _("service_code is required."))
        key = (request.headers.get("Idempotency-Key", "").strip()
               or _field(data, "client_token"))
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise Open311Error(400, _("The idempotency key is longer than %(n)s characters.")
                               % {"n": MAX_IDEMPOTENCY_KEY})
        uploads = request.FILES.getlist("media")
        if len(uploads) > MAX_PHOTOS:  # refused before anything is read into memory
            raise Open311Error(400, _("A report can have at most %(n)s photos.")
                               % {"n": MAX_PHOTOS})
        photos = []
        for upload in uploads:
            if upload.size > settings.RASAD_PHOTO_MAX_BYTES:
                raise Open311Error(400, _("The photo “%(name)s” is larger than the limit.")
                                   % {"name": upload.name})
            photos.append((upload.name, upload.read()))
        name = " ".join(part for part in (_field(data, "first_name"), _field(data, "last_name"))
                        if part)
        media_urls = [url.strip() for url in data.getlist("media_url")
                      if isinstance(url, str) and url.strip()]
        report_input = ReportInput(
            category_code=service_code, lat=_field(data, "lat"), lon=_field(data, "long"),
            address=_field(data, "address_string"), description=_field(data, "description"),
            attributes=_attribute_answers(data), channel=Channel.OPEN311,
            language=self.language, reporter_name=name, reporter_email=_field(data, "email"),
            reporter_phone=_field(data, "phone"), photos=photos, media_urls=media_urls,
        )
        result = report_submit(data=report_input, api_client=client,
                               idempotency_key=key or None, client_ip=_client_ip(request))
        payload = [{
            "service_request_id": result.report.tracking_code,
            "token": str(result.report.token),
            "service_notice": None,
            "account_id": _field(data, "account_id") or None,
        }]
        return render(fmt, payload, root="service_requests", item="request",
                      status=201 if result.created else 200)


class ServiceRequestDetailApi(Open311Api):
    def get(self, request, fmt, service_request_id):
        extensions = _flag(request.query_params, "extensions")
        code = tracking_code_normalize(service_request_id)
        report = report_list_open311(extensions=extensions, tracking_codes=[code]).first()
        if report is None:
            raise Open311Error(404, _("No service request has the id “%(id)s”.")
                               % {"id": service_request_id})
        payload = [_service_request(report, request, self.language, extensions=extensions)]
        return render(fmt, payload, root="service_requests", item="request")


class TokenDetailApi(Open311Api):
    def get(self, request, fmt, token):
        report = report_get_by_token(token)
        if report is None:
            raise Open311Error(404, _("No service request has this token."))
        payload = [{"service_request_id": report.tracking_code, "token": str(report.token)}]
        return render(fmt, payload, root="service_requests", item="request")


class ServiceRequestUpdatesApi(Open311Api):
    """`requests/{id}/updates` or `servicerequestupdates?service_request_id={id}`."""

    def get(self, request, fmt, service_request_id=None):
        wanted = service_request_id or request.query_params.get("service_request_id", "")
        if not wanted.strip():
            raise Open311Error(400, _("service_request_id is required."))
        report = report_get_by_tracking_code(wanted.strip())
        if report is None:
            raise Open311Error(404, _("No service request has the id “%(id)s”.")
                               % {"id": wanted})
        payload = [_request_update(u, report.tracking_code) for u in report_updates_public(report)]
        return render(fmt, payload, root="service_requests_updates", item="request_update")
