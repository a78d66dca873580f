"""Storm modes as OASIS CAP 1.2 alert messages and an Atom feed of them.

One mode is one alert: msgType Alert while it runs or is still to come, Cancel once it was
cancelled or ran out (referencing the Alert). One <info> per language the manager wrote (ar,
fa, en). The area is the service area's name and a coarse polygon (its convex hull,
simplified): no report, no citizen text, no personal data goes into a message.
"""

from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crews.models import EmergencyMode

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_CONTENT_TYPE = "application/cap+xml"
LANGUAGES = ("ar", "fa", "en")
# Degrees: about 1 km at the equator; the polygon says "this city", not "this street".
POLYGON_TOLERANCE = 0.01
# A mode saved again this long after it was issued was changed: its message is an Update.
UPDATE_AFTER_S = 1.0
_CAP_CATEGORY = {
    EmergencyMode.Hazard.SNOW_STORM: "Met", EmergencyMode.Hazard.WIND_STORM: "Met",
    EmergencyMode.Hazard.HEAT_WAVE: "Met", EmergencyMode.Hazard.FLOOD: "Met",
    EmergencyMode.Hazard.OTHER: "Other",
}


def cap_time(value: datetime) -> str:
    """CAP's dateTime: seconds, an explicit offset, never "Z" (the schema's pattern)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_sender() -> str:
    host = urlsplit(settings.RASAD_PUBLIC_URL).hostname or "localhost"
    return f"rasad@{host}"


def cap_identifier(mode: EmergencyMode, *, kind: str = "Alert") -> str:
    """Alert: host-storm-<id>; Update: …-u<seconds of the change>; Cancel: …-cancel."""
    base = f"{urlsplit(settings.RASAD_PUBLIC_URL).hostname or 'localhost'}-storm-{mode.pk}"
    if kind == "Cancel":
        return f"{base}-cancel"
    if kind == "Update":
        return f"{base}-u{int(mode.updated_at.timestamp())}"
    return base


def cap_is_over(mode: EmergencyMode, now: datetime) -> bool:
    return mode.cancelled_at is not None or mode.ends_at <= now


def cap_msg_type(mode: EmergencyMode, now: datetime) -> str:
    """Cancel once over; Update when a manager changed the mode after issuing it (the admin);
    else Alert."""
    if cap_is_over(mode, now):
        return "Cancel"
    if (mode.updated_at - mode.created_at).total_seconds() > UPDATE_AFTER_S:
        return "Update"
    return "Alert"


def cap_polygon(mode: EmergencyMode) -> str:
    """The area's convex hull, simplified, as CAP's "lat,lon lat,lon …" (closed ring)."""
    hull = mode.area.boundary.convex_hull.simplify(POLYGON_TOLERANCE, preserve_topology=True)
    ring = hull.exterior_ring.coords if hasattr(hull, "exterior_ring") else hull.coords
    return " ".join(f"{lat:.4f},{lon:.4f}" for lon, lat in ring)


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _languages(mode: EmergencyMode) -> list[str]:
    return [lang for lang in LANGUAGES if getattr(mode, f"message_{lang}")] or ["en"]


def cap_alert(mode: EmergencyMode, *, now: datetime | None = None) -> ET.Element:
    now = now or timezone.now()
    kind = cap_msg_type(mode, now)
    over = kind == "Cancel"
    started = mode.starts_at <= now
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", cap_identifier(mode, kind=kind))
    _sub(alert, "sender", cap_sender())
    sent = {"Cancel": mode.cancelled_at or min(mode.ends_at, now), "Update": mode.updated_at,
            "Alert": mode.created_at}[kind]
    _sub(alert, "sent", cap_time(sent))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", kind)
    _sub(alert, "scope", "Public")
    if kind != "Alert":
        _sub(alert, "references",
             f"{cap_sender()},{cap_identifier(mode)},{cap_time(mode.created_at)}")
    polygon = cap_polygon(mode)
    categories = list(mode.categories.all())
    for lang in _languages(mode):
        with translation.override(lang):
            info = _sub(alert, "info")
            _sub(info, "language", lang)
            _sub(info, "category", _CAP_CATEGORY.get(mode.hazard, "Other"))
            _sub(info, "event", str(mode.get_hazard_display()))
            _sub(info, "responseType", "AllClear" if over else "Monitor")
            _sub(info, "urgency", "Past" if over else ("Immediate" if started else "Expected"))
            _sub(info, "severity", "Severe")
            _sub(info, "certainty", "Observed" if started else "Likely")
            _sub(info, "onset", cap_time(mode.starts_at))
            _sub(info, "expires", cap_time(mode.ends_at))
            _sub(info, "senderName", mode.area.name_in(lang))
            headline = (_("Storm mode ended: %(hazard)s") if over else
                        _("Storm mode: %(hazard)s")) % {"hazard": mode.get_hazard_display()}
            _sub(info, "headline", headline)
            _sub(info, "description", getattr(mode, f"message_{lang}") or mode.message_en)
            instruction = _("Report these problems first: %(categories)s.") % {
                "categories": ", ".join(c.name_in(lang) for c in categories)}
            pause = mode.pause_message_in(lang)
            _sub(info, "instruction", f"{instruction} {pause}".strip())
            _sub(info, "web", f"{settings.RASAD_PUBLIC_URL.rstrip('/')}/")
            area = _sub(info, "area")
            _sub(area, "areaDesc", mode.area.name_in(lang))
            _sub(area, "polygon", polygon)
    return alert


def cap_document(mode: EmergencyMode, *, now: datetime | None = None) -> bytes:
    return ET.tostring(cap_alert(mode, now=now), encoding="UTF-8", xml_declaration=True,
                       default_namespace=CAP_NS)


def atom_feed(modes: list[EmergencyMode], *, cap_url, self_url: str,
              now: datetime | None = None) -> bytes:
    """An Atom (RFC 4287) feed of the modes, each entry linking its CAP message
    (rel="alternate", application/cap+xml), as OASIS's CAP feeds do."""
    now = now or timezone.now()
    language = translation.get_language() or "en"

    # Unqualified names under a default xmlns: ElementTree's default_namespace option refuses
    # the unqualified attributes (rel, href) Atom uses.
    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, tag, attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element("feed", {"xmlns": ATOM_NS,
                               "{http://www.w3.org/XML/1998/namespace}lang": language})
    host = urlsplit(settings.RASAD_PUBLIC_URL).hostname or "localhost"
    sub(feed, "id", f"tag:{host},2026:storm-modes")
    sub(feed, "title", _("Storm alerts"))
    updated = max((m.updated_at for m in modes), default=now)
    sub(feed, "updated", updated.astimezone(UTC).isoformat())
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    author = sub(feed, "author")
    sub(author, "name", _("Rasad"))
    for mode in modes:
        kind = cap_msg_type(mode, now)
        over = kind == "Cancel"
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:{host},2026:{cap_identifier(mode, kind=kind)}")
        title = (_("Storm mode ended: %(hazard)s") if over else
                 _("Storm mode: %(hazard)s")) % {"hazard": mode.get_hazard_display()}
        sub(entry, "title", f"{title} — {mode.area.name_in(language)}")
        sub(entry, "updated", mode.updated_at.astimezone(UTC).isoformat())
        sub(entry, "published", mode.created_at.astimezone(UTC).isoformat())
        sub(entry, "summary", mode.message_in(language))
        sub(entry, "link", rel="alternate", type=CAP_CONTENT_TYPE, href=cap_url(mode))
    return ET.tostring(feed, encoding="UTF-8", xml_declaration=True)
