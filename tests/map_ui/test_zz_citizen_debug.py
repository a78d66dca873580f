import pytest
from fixtures.city import demo_city_load
from tests.map_ui.conftest import screenshot
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def test_debug(asgi_server, phone):
    demo_city_load()
    page = phone.new_page()
    page.on("console", lambda m: print("CONSOLE", m.type, m.text))
    page.on("pageerror", lambda e: print("PAGEERROR", e))
    page.on("requestfailed", lambda r: print("FAILED", r.url, r.failure))
    page.goto(f"{asgi_server}/")
    page.wait_for_timeout(3000)
    screenshot(page, "debug")
