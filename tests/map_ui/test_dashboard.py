"""The manager dashboard in a real Chromium against a real ASGI server: filled from the
demo city's generated history (months of it, rolled up by stats_rebuild) in English, Arabic
and Persian (right to left, charts mirrored, digits of the locale), a filter that changes
the figures and the page's URL, figures that lead to their incidents on the console, a
dispatcher who sees only their departments, and a bad link answered in words."""

import re
from datetime import date

import pytest
from django.contrib.auth import get_user_model

from fixtures.city import demo_city_load, demo_users_load
from fixtures.generator import reports_generate
from gis.models import District
from incidents.models import Department
from incidents.stats.figures import Filters, Period, totals
from incidents.stats.rollup import stats_rebuild
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MANAGER = ("manager", "rasad-manager")
DISPATCHER = ("dispatcher", "rasad-dispatcher")
READY = "document.body.dataset.dashReady === 'true'"
ASCII_DIGITS = re.compile(r"[0-9]")
# Pixels a chart drew on its canvas (anything not transparent).
INKED = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked += 1;
  return inked;
}"""


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    yield
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def history():
    """The demo city with four months of reports, their incidents' histories, and the
    figures rolled up."""
    area = demo_city_load()
    demo_users_load()
    reports_generate(area=area, count=900, seed=11, days=120)
    stats_rebuild(area=area)
    return area


def dashboard_open(context, base: str, *, user=MANAGER, language: str | None = None,
                   query: str = ""):
    context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    page = context.new_page()
    if language:
        context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    login(page, base, *user)
    page.goto(f"{base}/console/dashboard/{query}")
    page.wait_for_function(READY, timeout=15000)
    return page


def shown_period(page) -> Period:
    period = page.evaluate("RasadDashboard.data.period")
    return Period(date.fromisoformat(period["first"]), date.fromisoformat(period["to_date"]))


def kpi_text(page, key: str) -> str:
    return page.locator(f'#kpis [data-kpi="{key}"] .kpi-value').inner_text()


def test_the_dashboard_is_filled_in_english(asgi_server, desk, history):
    # when
    page = dashboard_open(desk, asgi_server)

    # then: the cards show the figures of the period, with the change against the one before
    figures = totals(area_id=history.pk, period=shown_period(page), filters=Filters())
    assert figures["reports"] > 100
    assert kpi_text(page, "reports") == f"{figures['reports']:,}"
    assert kpi_text(page, "incidents_opened") == f"{figures['incidents_opened']:,}"
    assert page.locator("#kpis .kpi").count() >= 11
    assert page.locator('#kpis [data-kpi="reports"] .kpi-change').inner_text()[0] in "▲▼n"
    # the three charts are drawn
    for chart in ("chart-volume", "chart-ontime", "chart-resolve"):
        assert page.evaluate(INKED, chart) > 2000, chart
    # rankings of departments and districts, the district map with its legend, slow incidents
    assert page.locator("#rank-department tbody tr").count() >= 5
    assert page.locator("#rank-district tbody tr").count() == District.objects.count()
    assert page.locator("#dash-legend").is_visible()
    assert page.locator("#slowest li").count() == 10
    assert page.get_attribute("#report-link", "href").startswith(
        "/console/dashboard/report/?month=")
    screenshot(page, "dashboard-en")
    page.locator('[data-metric="on_time"]').click()
    assert "?map=on_time" in page.url
    page.locator(".dash-map-panel").scroll_into_view_if_needed()
    screenshot(page, "dashboard-en-map-on-time")


@pytest.mark.parametrize(("language", "digits"), [("ar", "٠١٢٣٤٥٦٧٨٩"),
                                                  ("fa", "۰۱۲۳۴۵۶۷۸۹")])
def test_the_dashboard_is_right_to_left_with_the_locales_digits(asgi_server, desk, history,
                                                                language, digits):
    # when
    page = dashboard_open(desk, asgi_server, language=language)

    # then: right to left, numbers in the locale's digits, charts mirrored and drawn
    assert (page.get_attribute("html", "dir"), page.get_attribute("html", "lang")) == (
        "rtl", language)
    figures = totals(area_id=history.pk, period=shown_period(page), filters=Filters())
    reports = kpi_text(page, "reports")
    assert not ASCII_DIGITS.search(reports)
    assert "".join(digits[int(d)] for d in str(figures["reports"])) in reports.replace(
        "٬", "").replace(",", "")
    assert not ASCII_DIGITS.search(page.locator("#rank-district tbody").inner_text())
    assert page.evaluate("""() => {
        const c = RasadDashboard.charts['chart-volume'];
        return [c.options.scales.x.reverse, c.options.scales.y.position,
                c.options.plugins.legend.rtl];
    }""") == [True, "right", True]
    for chart in ("chart-volume", "chart-ontime", "chart-resolve"):
        assert page.evaluate(INKED, chart) > 2000, chart
    # the first card stands at the right
    cards = page.locator("#kpis .kpi")
    assert cards.nth(0).bounding_box()["x"] > cards.nth(1).bounding_box()["x"]
    screenshot(page, f"dashboard-{language}")


def test_persian_months_carry_their_solar_hijri_dates(asgi_server, desk, history):
    page = dashboard_open(desk, asgi_server, language="fa", query="?month=2026-10")

    label = page.locator("#f-month option:checked").inner_text()
    assert ("اکتبر" in label, "مهر" in label, "آبان" in label) == (True, True, True)
    assert "مهر" in page.locator("#dash-period").inner_text()
    screenshot(page, "dashboard-fa-month")


def test_a_filter_changes_the_figures_and_the_address(asgi_server, desk, history):
    # given
    page = dashboard_open(desk, asgi_server)
    district = District.objects.get(code="kamppi")
    everywhere = kpi_text(page, "reports")
    renders = page.evaluate("document.body.dataset.dashRenders")

    # when
    page.select_option("#f-district", "kamppi")
    page.wait_for_function(f"document.body.dataset.dashRenders !== '{renders}'")

    # then
    figures = totals(area_id=history.pk, period=shown_period(page),
                     filters=Filters(districts=(district.pk,)))
    assert kpi_text(page, "reports") == f"{figures['reports']:,}" != everywhere
    assert page.url.endswith("/console/dashboard/?district=kamppi")
    # the address opens the same view
    page.goto(page.url)
    page.wait_for_function(READY)
    assert (page.input_value("#f-district"), kpi_text(page, "reports")) == (
        "kamppi", f"{figures['reports']:,}")
    screenshot(page, "dashboard-filtered")


def test_a_figure_leads_to_its_incidents_on_the_console(asgi_server, desk, history):
    # given: the dashboard narrowed to one district
    page = dashboard_open(desk, asgi_server, query="?district=kamppi")

    # when: the manager follows the backlog card
    page.locator('#kpis [data-kpi="backlog"]').click()
    page.wait_for_url("**/console/")
    page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=15000)

    # then: the console shows the open incidents of that district
    assert page.evaluate("RasadConsole.state.filters.district") == ["kamppi"]
    assert page.locator('#filter-form input[name=district][value="kamppi"]').is_checked()
    request = page.evaluate("RasadConsole.metrics.requests.at(-1).url")
    assert "district=kamppi" in request
    assert "status=new%2C" in request
    screenshot(page, "dashboard-to-console")


def test_a_period_figure_leads_to_the_incidents_reported_then(asgi_server, desk, history):
    page = dashboard_open(desk, asgi_server, query="?district=kamppi")

    page.locator('#kpis [data-kpi="reports"]').click()
    page.wait_for_url("**/console/")
    page.wait_for_function("document.body.dataset.mapReady === 'true'", timeout=15000)

    assert page.locator("#filter-range").is_visible()
    request = page.evaluate("RasadConsole.metrics.requests.at(-1).url")
    assert "max_age_h=" in request
    assert "status=new%2Cverified" in request
    assert "rejected" in request


def test_a_slow_incident_opens_on_the_console(asgi_server, desk, history):
    page = dashboard_open(desk, asgi_server)
    first = page.locator("#slowest li").first
    incident_id = first.get_attribute("data-id")

    first.locator("a").click()
    page.wait_for_url("**/console/")
    page.locator("#pane-detail").wait_for(state="visible", timeout=15000)

    page.wait_for_function(f"RasadConsole.state.detail && RasadConsole.state.detail.id === {incident_id}")
    screenshot(page, "dashboard-slow-incident")


def test_a_dispatcher_sees_only_their_departments(asgi_server, desk, history):
    # given: the demo dispatcher works for roads only
    roads = Department.objects.get(code="roads")
    get_user_model().objects.get(username="dispatcher").departments.set([roads])

    # when
    page = dashboard_open(desk, asgi_server, user=DISPATCHER)

    # then
    figures = totals(area_id=history.pk, period=shown_period(page),
                     filters=Filters(departments=(roads.pk,)))
    everything = totals(area_id=history.pk, period=shown_period(page), filters=Filters())
    assert kpi_text(page, "reports") == f"{figures['reports']:,}"
    assert figures["reports"] < everything["reports"]
    assert page.locator("#dash-scope").inner_text().endswith("Roads and Streets")
    assert page.locator("#f-department option").all_inner_texts() == [
        "All my departments", "Roads and Streets"]
    assert [r["code"] for r in page.evaluate("RasadDashboard.data.ranking.department")] == [
        "roads"]
    screenshot(page, "dashboard-dispatcher")


def test_a_bad_link_is_answered_in_words(asgi_server, desk, history):
    page = desk.new_page()
    login(page, asgi_server, *MANAGER)

    page.goto(f"{asgi_server}/console/dashboard/?month=2026-13")
    page.wait_for_function("document.body.dataset.dashError === '400'")

    assert page.locator("#dash-status").inner_text() == (
        "month: Unknown month 2026-13; write it as YYYY-MM, like 2026-11.")
