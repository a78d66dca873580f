"""Finding a place from what a person types: a map link or coordinates, a street of the
road network by any of its names (misspellings tolerated), two streets that cross, or a
district. Used by the chat dialogue, the verification inbox and the call-taker's desk.

Street names are matched in Python (rapidfuzz) against a per-process index of the city's
streets, refreshed when the network changes: a few thousand names match in well under a
millisecond, in any script (the database's trigram matching depends on its locale)."""

import json
import re
import threading
import time
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from rapidfuzz import fuzz, process

from gis.models import District, RoadEdge, RoadNetwork, Street

STREET_SCORE_MIN = 80.0
DISTRICT_SCORE_MIN = 85.0
QUERY_MIN_CHARS = 3

# Arabic and Persian spell some letters differently; folded alike for matching only.
_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ی", "ي": "ی", "ئ": "ی", "ك": "ک",
    "ة": "ه", "ۀ": "ه", "ؤ": "و", "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4",
    "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9", "۰": "0", "۱": "1", "۲": "2",
    "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9", "٫": ".",
    "\u200c": " ", "\u0640": "",
})
_MARKS = re.compile(r"[\u064b-\u065f\u0670\u06d6-\u06ed]")
_PUNCT = re.compile(r"[^\w\s.]+")
_SPACES = re.compile(r"\s+")
# Words that say where but are not part of a name.
_FILLER = {"near", "next", "to", "at", "the", "by", "on", "in", "corner", "of", "opposite",
           "behind", "front", "قرب", "عند", "بجانب", "جنب", "امام", "خلف", "مقابل", "فی",
           "نزد", "نزدیک", "کنار", "روبروی", "پشت", "جلوی", "در", "سر", "تقاطع", "no",
           "nr", "number", "رقم", "پلاک", "شماره"}
_CROSSING = re.compile(r"\s(?:and|&|x|/|و|با|تقاطع)\s|&|/|،|,", re.IGNORECASE)


def fold(text: str) -> str:
    """Lower case, one spelling per Arabic/Persian letter, no diacritics, ASCII digits,
    punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text or "").translate(_FOLD).casefold()
    text = _MARKS.sub("", text)
    text = _PUNCT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _name_query(text: str) -> str:
    words = [w for w in fold(text).split() if w not in _FILLER and not w.replace(".", "")
             .isdigit()]
    return " ".join(words)


@dataclass(frozen=True)
class Place:
    name: str
    lon: float
    lat: float
    kind: str  # coordinates, street, intersection, district
    score: float


# -- Coordinates and map links -------------------------------------------------------------

_NUMBER = r"(-?\d{1,3}(?:\.\d+)?)"
_LINK_PATTERNS = [
    # geo:60.17,24.93 (RFC 5870), Google's @lat,lon and q=/ll=/query=/destination=,
    # Google's !3dLAT!4dLON, OpenStreetMap's mlat/mlon and #map=z/lat/lon, Apple's ll=.
    re.compile(rf"geo:{_NUMBER},{_NUMBER}"),
    re.compile(rf"!3d{_NUMBER}!4d{_NUMBER}"),
    re.compile(rf"@{_NUMBER},{_NUMBER}"),
    re.compile(rf"[?&](?:q|ll|query|destination|daddr|sll|center)=(?:loc:)?{_NUMBER}"
               rf"(?:,|%2C)\s*{_NUMBER}", re.IGNORECASE),
    re.compile(rf"#map=\d+/{_NUMBER}/{_NUMBER}"),
]
_OSM_MARKER = re.compile(rf"mlat={_NUMBER}&(?:amp;)?mlon={_NUMBER}")
_PAIR = re.compile(rf"^\s*{_NUMBER}\s*[,; ]\s*{_NUMBER}\s*$")


def _valid(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180 and not (lat == 0 and lon == 0)


def coordinates_parse(text: str) -> tuple[float, float] | None:
    """(lon, lat) from a map link or a "lat, lon" pair (the order map apps copy), or None."""
    text = (text or "").translate(_FOLD)
    for pattern in (_OSM_MARKER, *_LINK_PATTERNS):
        match = pattern.search(text)
        if match:
            lat, lon = float(match[1]), float(match[2])
            if _valid(lat, lon):
                return lon, lat
    match = _PAIR.match(text)
    if match:
        first, second = float(match[1]), float(match[2])
        if _valid(first, second):
            return second, first
        if _valid(second, first):
            return first, second
    return None


# -- The street index ---------------------------------------------------------------------

@dataclass
class _Index:
    version: tuple
    checked: float
    keys: list[str]  # folded names, several per street
    owners: list[int]  # index into streets, per key
    spellings: list[str]  # the name as OSM writes it, per key
    streets: list[tuple[str, float, float, dict]]  # name, lon, lat, name per language
    districts: list[tuple[str, int, float, float]]  # folded name, district pk, lon, lat


_index: _Index | None = None
_index_lock = threading.Lock()


def _version() -> tuple:
    network = RoadNetwork.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (network, Street.objects.count(), District.objects.count())


def _index_build(version: tuple) -> _Index:
    keys, owners, spellings, streets = [], [], [], []
    rows = Street.objects.values_list("name", "names", "names_by_language", "point")
    for name, names, by_language, point in rows.iterator(chunk_size=5000):
        position = len(streets)
        streets.append((name, point.x, point.y, by_language or {}))
        folded = {}
        for spelling in names or [name]:
            folded.setdefault(fold(spelling), spelling)
        for variant, spelling in folded.items():
            if variant:
                keys.append(variant)
                owners.append(position)
                spellings.append(spelling)
    districts = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name_en, name_ar, name_fa, ST_X(p), ST_Y(p) FROM "
                       f"(SELECT id, name_en, name_ar, name_fa, ST_PointOnSurface(boundary) p "
                       f"FROM {District._meta.db_table}) d")
        for pk, *names, lon, lat in cursor.fetchall():
            for variant in {fold(n) for n in names[:3] if n}:
                districts.append((variant, pk, lon, lat))
    return _Index(version=version, checked=time.monotonic(), keys=keys, owners=owners,
                  spellings=spellings, streets=streets, districts=districts)


def _index_get() -> _Index:
    """The street index, checked against the network at most every
    RASAD_GEOCODE_INDEX_CHECK_S seconds (an import in another process shows then)."""
    global _index
    every = getattr(settings, "RASAD_GEOCODE_INDEX_CHECK_S", 60.0)
    with _index_lock:
        if _index is None or time.monotonic() - _index.checked >= every:
            version = _version()
            if _index is None or _index.version != version:
                _index = _index_build(version)
            else:
                _index.checked = time.monotonic()
        return _index


def geocode_index_reset() -> None:
    """Forget the cached index (after an import in this process, and in tests)."""
    global _index
    with _index_lock:
        _index = None


def _streets_matching(index: _Index, query: str,
                      limit: int) -> list[tuple[int, float, str]]:
    """(street, score, the spelling that matched): a street found by its Arabic name is
    shown by its Arabic name."""
    if len(query) < QUERY_MIN_CHARS or not index.keys:
        return []
    found: dict[int, tuple[float, str]] = {}
    for _key, score, position in process.extract(query, index.keys, scorer=fuzz.WRatio,
                                                 limit=limit * 4,
                                                 score_cutoff=STREET_SCORE_MIN):
        street = index.owners[position]
        if score > found.get(street, (0.0, ""))[0]:
            found[street] = (score, index.spellings[position])
    ranked = sorted(found.items(), key=lambda item: -item[1][0])[:limit]
    return [(street, score, spelling) for street, (score, spelling) in ranked]


def _crossing(first: str, second: str) -> tuple[float, float] | None:
    """Where two named streets meet (or pass within about 30 m of each other)."""
    table = RoadEdge._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT ST_X(p), ST_Y(p) FROM (
                SELECT CASE WHEN ST_Intersects(a.g, b.g)
                            THEN ST_PointOnSurface(ST_Intersection(a.g, b.g))
                            ELSE ST_ClosestPoint(a.g, b.g) END AS p,
                       ST_Distance(a.g::geography, b.g::geography) AS gap
                FROM (SELECT ST_Collect(geom) g FROM {table} WHERE name = %s) a,
                     (SELECT ST_Collect(geom) g FROM {table} WHERE name = %s) b
            ) x WHERE p IS NOT NULL AND gap < 30
            """, [first, second])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def places_find(text: str, *, limit: int = 5, language: str | None = None) -> list[Place]:
    """The places `text` may mean, best first: coordinates or a map link (alone), else the
    crossing of two streets, streets and districts by name. A street is named in
    `language` when OSM has that name, else as it was typed."""
    point = coordinates_parse(text)
    if point is not None:
        return [Place(name=f"{point[1]:.5f}, {point[0]:.5f}", lon=point[0], lat=point[1],
                      kind="coordinates", score=100.0)]
    index = _index_get()
    places: list[Place] = []
    parts = [p for p in (_name_query(part) for part in _CROSSING.split(f" {text} ")) if p]
    if len(parts) == 2:
        first = _streets_matching(index, parts[0], 1)
        second = _streets_matching(index, parts[1], 1)
        if first and second and first[0][0] != second[0][0]:
            a, b = index.streets[first[0][0]], index.streets[second[0][0]]
            crossing = _crossing(a[0], b[0])
            if crossing is not None:
                names = (a[3].get(language) or first[0][2], b[3].get(language) or second[0][2])
                places.append(Place(name=" / ".join(names), lon=crossing[0],
                                    lat=crossing[1], kind="intersection",
                                    score=min(first[0][1], second[0][1])))
    query = _name_query(text)
    for street, score, spelling in _streets_matching(index, query, limit):
        _name, lon, lat, by_language = index.streets[street]
        places.append(Place(name=by_language.get(language) or spelling, lon=lon, lat=lat,
                            kind="street", score=score))
    if len(query) >= QUERY_MIN_CHARS and index.districts:
        seen = set()
        for _key, score, position in process.extract(
                query, [d[0] for d in index.districts], scorer=fuzz.WRatio, limit=limit,
                score_cutoff=DISTRICT_SCORE_MIN):
            _name, pk, lon, lat = index.districts[position]
            if pk in seen:
                continue
            seen.add(pk)
            district = District.objects.filter(pk=pk).first()
            if district is not None:
                places.append(Place(name=district.name_in(language), lon=lon, lat=lat,
                                    kind="district", score=score))
    places.sort(key=lambda p: (-p.score, p.kind != "intersection"))
    return places[:limit]


def street_near(lon: float, lat: float, *, within_m: float = 60.0,
                language: str | None = None) -> str:
    """The name of the nearest named street within `within_m` of a point ("" if none), in
    `language` when OSM has it: how a shared pin is described to people."""
    table = RoadEdge._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT e.name, s.names_by_language FROM {table} e
            LEFT JOIN {Street._meta.db_table} s ON s.name = e.name
            WHERE e.name <> '' AND ST_DWithin(e.geom::geography,
                  ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)
            ORDER BY e.geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 1
            """, [lon, lat, within_m, lon, lat])
        row = cursor.fetchone()
    if row is None:
        return ""
    name, by_language = row
    if isinstance(by_language, str):  # Django's cursors leave jsonb as text
        by_language = json.loads(by_language)
    return (by_language or {}).get(language) or name
