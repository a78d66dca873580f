import pytest

from tests.map_ui.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_renders_right_to_left_in_persian(asgi_server, desk):
    page = desk.new_page()
    page.goto(f"{asgi_server}/accounts/login/")
    page.select_option("select[name=language]", "fa")
    page.wait_for_load_state("networkidle")

    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    screenshot(page, "login-fa")
