"""Finding places from typed text: map links and coordinates, streets by any of their OSM
names (misspelt too), crossings of two streets, districts."""

import pytest

from gis.geocode import coordinates_parse, fold, places_find
from gis.models import Street

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("text", "expected"), [
    ("geo:60.1699,24.9384", (24.9384, 60.1699)),
    ("https://maps.google.com/?q=60.1699,24.9384", (24.9384, 60.1699)),
    ("https://www.google.com/maps/@60.1699,24.9384,17z", (24.9384, 60.1699)),
    ("https://www.google.com/maps/place/X/data=!3d60.1699!4d24.9384", (24.9384, 60.1699)),
    ("https://www.openstreetmap.org/?mlat=60.1699&mlon=24.9384#map=17/60.1699/24.9384",
     (24.9384, 60.1699)),
    ("https://www.openstreetmap.org/#map=17/60.16990/24.93840", (24.9384, 60.1699)),
    ("https://maps.apple.com/?ll=60.1699,24.9384", (24.9384, 60.1699)),
    ("60.1699, 24.9384", (24.9384, 60.1699)),
    ("٦٠٫١٦٩٩، ٢٤٫٩٣٨٤".replace("،", ","), (24.9384, 60.1699)),
])
def test_map_links_and_coordinates_are_read(text, expected):
    assert coordinates_parse(text) == expected


@pytest.mark.parametrize("text", ["Mannerheimintie 5", "near the school", "0, 0", "999, 999"])
def test_text_without_coordinates_gives_none(text):
    assert coordinates_parse(text) is None


def test_arabic_and_persian_spellings_fold_alike():
    assert fold("شارع الملك فيصل") == fold("شارع الملک فیصل")
    assert fold("  Ünter   DEN Linden! ") == "ünter den linden"


def test_a_street_is_found_by_its_name(streets):
    (place, *_rest) = places_find("Mannerheimintie 14")

    assert (place.name, place.kind) == ("Mannerheimintie", "street")
    assert place.lon == pytest.approx(24.93, abs=1e-6)
    assert 60.165 <= place.lat <= 60.175


def test_a_misspelt_street_is_still_found(streets):
    assert places_find("Manerheimintie")[0].name == "Mannerheimintie"


@pytest.mark.parametrize(("text", "shown"), [("شارع النخيل", "شارع النخيل"),
                                             ("خيابان نخل", "خیابان نخل"),
                                             ("palm street", "Palm Street")])
def test_a_street_is_found_and_named_by_the_spelling_typed(streets, text, shown):
    (place, *_rest) = places_find(text)

    assert (place.name, round(place.lon, 3)) == (shown, 24.95)


def test_the_street_index_keeps_every_osm_name(streets):
    street = Street.objects.get(name="Palm Street")

    assert sorted(street.names) == sorted(["Palm Street", "شارع النخيل", "خیابان نخل"])


def test_two_streets_that_cross_give_their_crossing(streets):
    (place, *_rest) = places_find("Mannerheimintie & Simonkatu")

    assert (place.kind, place.name) == ("intersection", "Mannerheimintie / Simonkatu")
    assert (round(place.lon, 4), round(place.lat, 4)) == (24.93, 60.17)


def test_a_district_is_found_by_its_arabic_name(streets, district):
    found = places_find("الغرب")

    assert [(p.kind, p.name) for p in found] == [("district", "West")]


def test_nothing_is_found_for_unknown_words(streets):
    assert places_find("xylophone quartet") == []


@pytest.mark.parametrize(("language", "shown"), [("ar", "شارع النخيل"), ("fa", "خیابان نخل"),
                                                 ("en", "Palm Street")])
def test_a_street_is_named_in_the_readers_language(streets, language, shown):
    assert places_find("Palm Street", language=language)[0].name == shown


def test_the_street_index_keeps_the_name_per_language(streets):
    assert Street.objects.get(name="Palm Street").names_by_language == {
        "ar": "شارع النخيل", "fa": "خیابان نخل"}
