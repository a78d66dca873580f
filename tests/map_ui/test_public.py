"""The public figures page (/public/) and the open data documentation (/open-data/), no login:
the city's and each district's figures for 12 months from the rollups, month by month (Solar
Hijri months in Persian), cached; and, in a real Chromium, the page in Arabic and Persian
with the figures in the reader's digits and calendar and the download links working."""

import re
from datetime import date
from itertools import pairwise

import httpx
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from incidents.models import Incident, Status
from incidents.opendata import COLUMN_NAMES
from incidents.services import incident_transition
from incidents.stats.figures import Filters, Period, totals
from incidents.stats.rollup import stats_rebuild, stats_refresh
from map_ui.views_public import _cached, last_months, solar_hijri
from tests.conftest import CENTRE, offset
from tests.map_ui.conftest import pages_close_and_wait_quiet, screenshot

DB = pytest.mark.django_db
CITY_FIGURES = {"reports": 3, "resolutions": 1, "resolve_days_median": 0.0,
                "on_time_share": 1.0}
PERSIAN_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان",
                  "آذر", "دی", "بهمن", "اسفند")


@pytest.fixture
def reported(city, category, make_report, dispatcher):
    """Three reports today, two in the west and one in the east; one resolved at once (in
    its SLA); the rollups rebuilt."""
    resolved = make_report(category)
    make_report(category, *offset(*CENTRE, north_m=300))
    make_report(category, 24.95, 60.17)
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident_transition(incident=Incident.objects.get(pk=resolved.incident_id), to=status,
                            by=dispatcher)
    stats_rebuild(area=city)
    return city


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 21), (1405, 1, 1)), (date(2026, 12, 22), (1405, 10, 1)),
    (date(2025, 3, 20), (1403, 12, 30)), (date(2026, 12, 6), (1405, 9, 15)),
    (date(2026, 3, 20), (1404, 12, 29)),
])
def test_solar_hijri_dates(day, expected):
    assert solar_hijri(day) == expected


def test_the_last_twelve_months_end_today():
    months = last_months(date(2026, 12, 23), persian=False)

    assert [(m.label, m.period.first, m.period.last) for m in (months[0], months[-1])] == [
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 23))]
    assert len(months) == 12


def test_persian_readers_get_solar_hijri_months():
    months = last_months(date(2026, 12, 23), persian=True)

    assert [(m.label, m.period.first, m.period.last) for m in months[:2]] == [
        ("1404-11", date(2026, 1, 21), date(2026, 2, 19)),
        ("1404-12", date(2026, 2, 20), date(2026, 3, 20))]
    assert (months[-1].label, months[-1].period.first, months[-1].period.last) == (
        "1405-10", date(2026, 12, 22), date(2026, 12, 23))
    # back to back, no day missed
    assert all((b.period.first - a.period.last).days == 1 for a, b in pairwise(months))


@DB
def test_the_page_shows_the_city_and_each_district_from_the_rollups(reported, district):
    response = Client().get("/public/")

    figures = response.context["figures"]
    today = timezone.localdate()
    assert response.status_code == 200
    assert figures["city"] == CITY_FIGURES
    first = date.fromisoformat(figures["first"])
    assert totals(area_id=reported.pk, period=Period(first, today),
                  filters=Filters())["reports"] == 3
    assert [(d["code"], d["name"], d["reports"], d["resolutions"], d["on_time_share"])
            for d in figures["districts"]] == [("east", "East", 1, 0, None),
                                               ("west", "West", 2, 1, 1.0)]
    assert [(m["label"], m["reports"]) for m in figures["months"]][-1] == (
        f"{today:%Y-%m}", 3)
    assert [m["reports"] for m in figures["months"][:-1]] == [0] * 11
    body = response.content.decode()
    assert 'id="kpi-reports"' in body
    assert 'data-num="3" data-kind="count"' in body


@DB
def test_a_district_shows_its_own_months(reported, district):
    response = Client().get("/public/", {"district": "east"})

    figures = response.context["figures"]
    assert (response.status_code, figures["months"][-1]["reports"]) == (200, 1)
    assert figures["city"] == CITY_FIGURES
    assert "Month by month: East" in response.content.decode()


@DB
def test_an_unknown_district_is_refused_and_the_city_shown(reported, district):
    response = Client().get("/public/", {"district": "north"})

    assert response.status_code == 400
    assert response.context["error"] == "There is no district “north”. Choose one from the list."
    assert response.context["figures"]["months"][-1]["reports"] == 3


@DB
def test_persian_figures_are_by_solar_hijri_month(reported, district):
    response = Client().get("/public/", HTTP_ACCEPT_LANGUAGE="fa")

    figures = response.context["figures"]
    year, month, _day = solar_hijri(timezone.localdate())
    assert (figures["calendar"], figures["months"][-1]["label"]) == (
        "persian", f"{year}-{month:02d}")
    assert figures["districts"][1]["name"] == "غرب"


@DB
def test_the_figures_are_cached_until_the_rollups_change(reported, district, category,
                                                         make_report,
                                                         django_assert_max_num_queries):
    Client().get("/public/")

    with django_assert_max_num_queries(4):
        cached = Client().get("/public/")
    make_report(category, *offset(*CENTRE, north_m=-600))
    stats_refresh(area=reported)
    refreshed = Client().get("/public/")

    assert cached.context["figures"]["city"]["reports"] == 3
    assert refreshed.context["figures"]["city"]["reports"] == 4


@DB
def test_one_request_rebuilds_while_the_others_get_the_last_copy():
    first = _cached("public-test", "v1", lambda: {"n": 1})
    cache.add("public-test:building", 1)

    while_building = _cached("public-test", "v2", lambda: {"n": 2})
    cache.delete("public-test:building")
    rebuilt = _cached("public-test", "v2", lambda: {"n": 2})

    assert (first, while_building, rebuilt) == ({"n": 1}, {"n": 1}, {"n": 2})


@DB
def test_the_page_links_the_downloads_and_the_licence(reported):
    body = Client().get("/public/").content.decode()

    assert 'href="/open-data/incidents.csv"' in body
    assert 'href="/open-data/incidents.geojson"' in body
    assert 'href="/open-data/"' in body
    assert '<a id="licence" href="https://creativecommons.org/licenses/by/4.0/" ' \
           'rel="license">CC BY 4.0</a>' in body


@DB
def test_without_a_city_the_page_says_there_are_no_figures():
    response = Client().get("/public/")

    assert response.status_code == 200
    assert "There are no figures yet." in response.content.decode()


@DB
@pytest.mark.parametrize("language", ["en", "ar", "fa"])
def test_the_open_data_page_documents_every_column(reported, district, language):
    response = Client().get("/open-data/", HTTP_ACCEPT_LANGUAGE=language)

    body = response.content.decode()
    documented = re.findall(r'<tr><th scope="row"><code>([a-z_]+)</code></th>',
                            body.split('id="columns"')[1])
    assert response.status_code == 200
    assert documented == list(COLUMN_NAMES)
    assert 'rel="license">CC BY 4.0</a>' in body
    assert f'<html lang="{language}" dir="{"ltr" if language == "en" else "rtl"}">' in body


# In a real browser

DIGITS = {"ar": "٠١٢٣٤٥٦٧٨٩", "fa": "۰۱۲۳۴۵۶۷۸۹"}


def _number(text: str, language: str) -> int:
    """A count written in the locale's digits (and grouping), back to an int."""
    digits = DIGITS[language]
    return int("".join(str(digits.index(ch)) for ch in text if ch in digits))


@pytest.fixture
def demo_figures():
    from fixtures.city import demo_city_load
    from fixtures.generator import reports_generate

    area = demo_city_load()
    reports_generate(area=area, count=400, seed=11, days=200)
    stats_rebuild(area=area)
    return area


def _open(desk, base: str, language: str):
    desk.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page = desk.new_page()
    page.goto(f"{base}/public/")
    page.wait_for_function("document.body.dataset.ready === 'true'")
    return page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["ar", "fa"])
def test_the_public_page_reads_right_to_left_in_the_readers_digits(asgi_server, desk,
                                                                   demo_figures, language):
    # given: months of generated reports, rolled up
    city = totals(area_id=demo_figures.pk, period=Period(date(2025, 1, 1),
                                                         timezone.localdate()),
                  filters=Filters())

    try:
        # when: a citizen opens the page, signed out
        page = _open(desk, asgi_server, language)

        # then: right to left, the city's figures in the reader's digits
        assert (page.get_attribute("html", "dir"), page.get_attribute("html", "lang")) == (
            "rtl", language)
        shown = page.locator("#kpi-reports .num").inner_text()
        assert re.fullmatch(f"[{DIGITS[language]}٬,]+", shown)
        assert _number(shown, language) == city["reports"] > 0
        assert _number(page.locator("#kpi-resolutions .num").inner_text(),
                       language) == city["resolutions"]
        assert re.search("[٪%]", page.locator("#kpi-on_time_share .num").inner_text())
        # one bar per month in every chart, and a row per district
        assert page.locator("#months-reports tbody tr").count() == 12
        assert page.locator("#districts-table tbody tr").count() == \
            demo_figures.districts.count()
        # the downloads, without signing in
        assert page.get_attribute("#download-csv", "href") == "/open-data/incidents.csv"
        assert page.get_attribute("#download-geojson", "href") == "/open-data/incidents.geojson"
        download = httpx.get(f"{asgi_server}/open-data/incidents.csv", timeout=30)
        assert download.status_code == 200
        assert download.content.startswith(b"\xef\xbb\xbfid,")
        screenshot(page, f"public-{language}")
    finally:
        pages_close_and_wait_quiet(desk)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_persian_months_are_solar_hijri_in_the_browser(asgi_server, desk, demo_figures):
    year, month, _day = solar_hijri(timezone.localdate())
    persian_year = "".join(DIGITS["fa"][int(d)] for d in str(year))

    try:
        page = _open(desk, asgi_server, "fa")
        labels = page.locator("#months-reports tbody th time").all_inner_texts()

        # (the browser's own order of month and year)
        assert sorted(labels[-1].split()) == sorted([PERSIAN_MONTHS[month - 1], persian_year])
        assert all(any(name in label for name in PERSIAN_MONTHS) for label in labels)
        page.select_option("#district-choice", "kamppi")
        page.wait_for_url("**/public/?district=kamppi")
        page.wait_for_function("document.body.dataset.ready === 'true'")
        assert page.locator("#months-title").inner_text().endswith(
            demo_figures.districts.get(code="kamppi").name_fa)
        screenshot(page, "public-fa-district")
    finally:
        pages_close_and_wait_quiet(desk)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_downloads_pass_by_the_service_worker(asgi_server, phone, demo_figures):
    # given: a citizen's phone whose service worker controls the site
    phone.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page = phone.new_page()
    page.goto(f"{asgi_server}/")
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    try:
        # when: the download is clicked on the public page
        page.goto(f"{asgi_server}/public/")
        page.wait_for_function("document.body.dataset.ready === 'true'")
        with page.expect_download() as started:
            page.click("#download-csv")
        download = started.value
        with page.expect_download() as opened:  # the address opened as a page
            page.evaluate("location.href = '/open-data/incidents.geojson'")
        opened.value.path()

        # then: the whole file, and nothing of it kept in the worker's caches
        with open(download.path(), "rb") as body:
            lines = body.read().decode("utf-8-sig").splitlines()
        cached = page.evaluate("""async () => (await Promise.all((await caches.keys()).map(
            async (name) => (await (await caches.open(name)).keys()).map((r) => r.url)))).flat()""")
        assert lines[0].startswith("id,opened_at,due_at,")
        assert len(lines) - 1 == Incident.objects.exclude(status=Status.MERGED).count()
        assert [url for url in cached if "/open-data/" in url] == []
        assert any(url.endswith("/public/") for url in cached)  # the page itself is kept
    finally:
        pages_close_and_wait_quiet(phone)
