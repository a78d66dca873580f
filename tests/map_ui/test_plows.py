"""The public plow map (/public/plows/) in a real Chromium, in Arabic and Persian: streets
shaded from a replayed plow trace, the plow where it was minutes ago, and a tap on a street
that opens the citizen page with the place and the snow category chosen."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone

from crews.models import Crew, CrewPosition
from crews.services.plowmap import plow_map_refresh, plow_passes_match
from gis.models import RoadPass
from ops.settings import test as test_settings
from tests.gis.test_matching import at, edge, streets_load
from tests.map_ui.conftest import pages_close_and_wait_quiet, screenshot

AGE_0 = "#1a9850"  # plows.js COLOURS[0]: plowed in the last hour


@pytest.fixture
def streets(tmp_path):
    streets_load(tmp_path)


@pytest.fixture
def plowed(streets, settings):
    """The demo catalogue and area, a plow's trace along South St 20 minutes ago, matched,
    and the map built into the cache the test server reads."""
    from fixtures.city import demo_city_load

    settings.CACHES = test_settings.CACHES  # the server's cache namespace
    demo_city_load()
    now = timezone.now()
    plow = Crew.objects.create(code="plow-2", name="Plow 2", skills=["plow", "salt-spreader"],
                               depot=Point(*at(0, 0), srid=4326))
    CrewPosition.objects.bulk_create([
        CrewPosition(crew=plow, location=Point(*at(x, 2), srid=4326),
                     recorded_at=now - timedelta(minutes=20, seconds=-5 * i), accuracy_m=8)
        for i, x in enumerate(range(20, 600, 40))])
    plow_passes_match(now=now + timedelta(minutes=1))
    plow_map_refresh(now=now)
    return plow


@pytest.mark.django_db
def test_the_page_makes_no_query_for_its_map(plowed, django_assert_num_queries):
    # when
    with django_assert_num_queries(0):
        response = Client().get("/public/plows/", HTTP_ACCEPT_LANGUAGE="ar")

    # then
    assert response.status_code == 200
    assert response.context["config"]["report_category"] == "snow-ice"
    assert RoadPass.objects.filter(crew_id=plowed.pk).count() == 4


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["ar", "fa"])
def test_plow_map_shades_streets_and_files_a_snow_report(asgi_server, phone, plowed,
                                                         language):
    phone.add_cookies([{"name": "django_language", "value": language, "url": asgi_server}])
    page = phone.new_page()
    try:
        # when: a resident opens the map, signed out
        page.goto(f"{asgi_server}/public/plows/")
        page.wait_for_function("document.body.dataset.plowsLoaded === 'true'")

        # then: right to left; South St plowed in the last hour, North St not drawn
        assert (page.get_attribute("html", "dir"), page.get_attribute("html", "lang")) == (
            "rtl", language)
        shaded = page.evaluate("""() => {
            const map = window[Rasad.config.map];
            const out = {};
            map.eachLayer((l) => { if (l.feature && l.feature.properties.edge)
                out[l.feature.properties.edge] = l.options.color; });
            return out; }""")
        assert shaded == {str(edge(4, 5)[0]): AGE_0, str(edge(5, 6)[0]): AGE_0}
        # the plow where it was five minutes ago or before: the trace's end
        assert page.locator(".plow-vehicle").count() == 1

        # when: they tap South St (its east half, inside the demo city) and follow "report
        # snow here"
        lon, lat = at(450, 0)
        x, y = page.evaluate("""([lat, lon]) => { const map = window[Rasad.config.map];
            map.setView([lat, lon], 17, { animate: false });
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }""", [lat, lon])
        page.mouse.click(x, y)
        link = page.locator(".plow-popup a.report-snow")
        link.wait_for()
        screenshot(page, f"plows-{language}")
        link.click()

        # then: the citizen page, the snow category chosen and the pin on the street
        page.wait_for_selector('#categories .category[data-code="snow-ice"][aria-checked="true"]')
        page.wait_for_selector(".report-pin")
        pinned = page.evaluate("""() => { let found = null;
            window[Rasad.config.map].eachLayer((l) => { if (l.options && l.options.draggable)
                found = l.getLatLng(); }); return found && [found.lng, found.lat]; }""")
        assert pinned == [pytest.approx(lon, abs=2e-5), pytest.approx(lat, abs=2e-5)]
    finally:
        pages_close_and_wait_quiet(phone)
