"""Browser tests: Debian's Chromium driven by Playwright, against a real ASGI server
(uvicorn: HTTP and websockets) serving the test database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = os.environ.get("RASAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1440, "height": 900}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_QUEUE = f"rasad-test-asgi-{os.getpid()}"


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker):
    """uvicorn serving ops.asgi against the test database; tests using it need
    `django_db(transaction=True)` so that what they write is visible to the server."""
    db = settings.DATABASES["default"]
    url = (f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "ops.settings.test",
           # Events the tests publish in this process reach the server's websockets.
           "TEST_CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
           # Its tasks wait in a queue of its own (server_worker takes them).
           "TEST_CELERY_QUEUE": SERVER_QUEUE,
           "PYTHONUNBUFFERED": "1", "RASAD_MEDIA_FETCH_ALLOW_PRIVATE": "true"}
    log = open(ROOT / "var" / "log" / "test-asgi.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ops.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/", timeout=1).status_code in (200, 503):
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("the test ASGI server did not start; see var/log/test-asgi.log")
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()
    from ops.celery import app as celery_app

    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(SERVER_QUEUE)


@pytest.fixture
def server_worker(asgi_server, celery_queue):
    """A real Celery worker (a thread here) taking the tasks the test server queues, and the
    test's own: a webhook the server stores is then handled as in production."""
    from celery.contrib.testing.worker import start_worker

    from ops.celery import app as celery_app

    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(SERVER_QUEUE)
    with start_worker(celery_app, pool="solo", perform_ping_check=False,
                      queues=[celery_queue, SERVER_QUEUE], shutdown_timeout=30) as worker:
        yield worker


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE, locale="en-GB",
                                  geolocation={"latitude": 60.1699, "longitude": 24.9384},
                                  permissions=["geolocation"])
    yield context
    context.close()


@pytest.fixture
def desk(browser):
    context = browser.new_context(**DESK, locale="en-GB")
    yield context
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def pages_close_and_wait_quiet(*contexts) -> None:
    """Close the pages and let the server finish what they asked for before the test
    database is flushed: a TRUNCATE racing a request's transaction can deadlock."""
    from django.db import connection

    for context in contexts:
        for page in context.pages:
            page.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid() AND state <> 'idle'")
            if cursor.fetchone()[0] == 0:
                break
        time.sleep(0.1)
