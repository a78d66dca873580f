"""The monthly report of a small month worked out by hand: its HTML holds the KPIs, its PDF's
text reads back in Arabic and Persian (shaped, in reading order, in the locale's digits),
its CSV parses; bad input is refused with nothing written; the dashboard's download is for
managers (whole city) and dispatchers (their departments); the mail goes to each manager on
the 1st with the PDF attached."""

import csv
import io
import re
from datetime import date, datetime, time
from html import unescape

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext

from fixtures.factories import CategoryFactory, DepartmentFactory
from incidents.models import Status, Survey
from incidents.stats.calendar import business_days_layout, calendar_for
from incidents.stats.figures import month_period
from incidents.stats.report import Numbers, date_label, month_label
from incidents.stats.rollup import stats_rebuild
from incidents.tasks import monthly_report_mail_task
from ops.roles import Role
from tests.conftest import CENTRE, jpeg_bytes, offset, user_with_role
from tests.incidents.history import at, move_at, report_stamp

pytestmark = pytest.mark.django_db

EAST = (24.9500, 60.1700)





def _resolve(incident_id: int, when: datetime, by) -> None:
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        move_at(incident_id, status, when, by)


@pytest.fixture
def water():
    return DepartmentFactory(code="water", name_en="Water", name_ar="المياه", name_fa="آب")


@pytest.fixture
def leak(water):
    return CategoryFactory(code="leak", department=water, name_en="Water leak",
                           name_ar="تسرب مياه", name_fa="نشت آب", sla_hours=24)


@pytest.fixture
def month(city, category, leak, make_report, dispatcher, settings):
    """October 2026 and the September before it (UTC; Friday and Saturday off, 08–16;
    potholes have 72 h = three working days, leaks 24 h = one):

    Sep 10 10:00  D, a pothole (west, web); resolved Sep 30 10:00: late
    Oct  5 10:00  C, a leak (east, phone); open at the month's end, overdue
    Oct  8 09:00  B, a pothole (east, phone); rejected 09:30
    Oct  8 10:00  A, a pothole (west, web); resolved Sun Oct 11 10:00, in time (8 working
                  hours); its reporter answers the survey: fixed, 4 of 5
    """
    settings.RASAD_RANKING_MIN_CASES = 1
    calendar = calendar_for(city)
    calendar.timezone, calendar.weekend = "UTC", [5, 6]
    calendar.day_starts, calendar.day_ends = time(8), time(16)
    calendar.save()
    business_days_layout(calendar=calendar, until=date(2027, 12, 31))
    d = report_stamp(make_report(category, *offset(*CENTRE, north_m=500), channel="web"),
                     at(date(2026, 9, 10), 10))
    _resolve(d.incident_id, at(date(2026, 9, 30), 10), dispatcher)
    c = report_stamp(make_report(leak, *EAST, channel="phone"), at(date(2026, 10, 5), 10))
    b = report_stamp(make_report(category, *offset(*EAST, north_m=-500), channel="phone"),
                     at(date(2026, 10, 8), 9))
    move_at(b.incident_id, Status.REJECTED, at(date(2026, 10, 8), 9, 30), dispatcher,
          note="Not ours")
    a = report_stamp(make_report(category, *CENTRE, channel="web"), at(date(2026, 10, 8), 10))
    _resolve(a.incident_id, at(date(2026, 10, 11), 10), dispatcher)
    Survey.objects.update_or_create(report=a, round=1, defaults={
        "due_at": at(date(2026, 10, 11), 12), "expires_at": at(date(2026, 10, 25), 12),
        "state": "answered", "answered_at": at(date(2026, 10, 12), 9), "fixed": True,
        "rating": 4})
    stats_rebuild(area=city, since=date(2026, 9, 1), now=at(date(2026, 11, 2), 12))
    return {"a": a, "b": b, "c": c, "d": d}


def _write(tmp_path, lang: str, fmt: str, month: str = "2026-10") -> bytes:
    out = tmp_path / f"report.{fmt}"
    call_command("monthly_report", month=month, lang=lang, fmt=fmt, out=str(out))
    return out.read_bytes()


def _cells(html: str, row_class: str) -> list[str]:
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', html, re.S).group(1)
    return [unescape(re.sub(r"<[^>]+>|\s+", " ", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _pdf_lines(content: bytes) -> list[str]:
    """The PDF's text lines in reading order. A PDF holds glyphs where they are drawn, so an
    Arabic line comes out right to left; the Unicode bidi algorithm puts it back."""
    from bidi import get_display
    from pdfminer.high_level import extract_text

    return [get_display(line, base_dir="R") for line in
            extract_text(io.BytesIO(content)).splitlines() if line.strip()]


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_html_report_holds_the_months_kpis_against_the_month_before(month, tmp_path):
    html = _write(tmp_path, "en", "html").decode()

    assert _cells(html, "kpi-reports") == ["Reports received", "3", "1", "+2 (+200%)"]
    assert _cells(html, "kpi-incidents_opened") == ["Incidents opened", "3", "1",
                                                    "+2 (+200%)"]
    assert _cells(html, "kpi-resolutions") == ["Incidents resolved", "1", "1", "0 (0%)"]
    assert _cells(html, "kpi-on_time_share") == ["Resolved within SLA", "100.0%", "0.0%",
                                                 "+100.0 pp"]
    assert _cells(html, "kpi-rejected") == ["Reports rejected", "1", "0", "+1"]
    assert _cells(html, "kpi-backlog_open") == ["Open at the month's end", "1", "0", "+1"]
    assert _cells(html, "kpi-backlog_overdue") == ["Open past SLA at the month's end", "1",
                                                   "0", "+1"]
    assert _cells(html, "kpi-survey_answers") == ["Survey answers", "1", "0", "+1"]
    assert _cells(html, "kpi-satisfaction") == ["Satisfaction (1–5)", "4.0", "—", "—"]
    assert _cells(html, "kpi-survey_fixed_share") == ["Said it was fixed", "100.0%", "—", "—"]
    assert '<html lang="en" dir="ltr">' in html


def test_the_html_report_ranks_maps_and_lists_the_breaches(month, tmp_path):
    html = unescape(_write(tmp_path, "en", "html").decode())

    ranking = html[html.index("Ranking: Departments"):html.index("Ranking: Districts")]
    assert re.findall(r'<td class="label">([^<]+?)\s*</td>', ranking) == ["Roads", "Water"]
    assert html.count("<path d=") == 4  # two maps (SVG) of two districts
    breaches = html[html.index("SLA breaches"):html.index("Satisfaction survey")]
    assert re.findall(r'<td class="label">([^<]+)</td>', breaches) == ["Water", "Water leak"]
    assert "Resolved after their SLA this month: 0. Open past their SLA at the month's end: " \
           "1." in breaches
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch


def test_the_arabic_pdf_reads_back_in_arabic_with_arabic_indic_digits(month, tmp_path):
    content = _write(tmp_path, "ar", "pdf")

    lines = _pdf_lines(content)
    text = "\n".join(lines)
    assert content.startswith(b"%PDF-")
    assert "مدينة الاختبار" in lines  # the area, as the first line of the title block
    assert "أكتوبر ٢٠٢٦" in text  # the month, in Arabic, in Arabic-Indic digits
    assert "حفرة" in lines  # the category's name alone on its line, in top categories
    assert {"تسرب مياه", "الغرب"} <= set(lines)
    assert "١٠٠٫٠٪" in text  # resolved within SLA, with the Arabic decimal and percent signs
    assert not re.search(r"\b2026\b", text)


def test_the_persian_pdf_reads_back_in_persian_with_solar_hijri_months(month, tmp_path):
    content = _write(tmp_path, "fa", "pdf")

    lines = _pdf_lines(content)
    text = "\n".join(lines)
    assert "شهر آزمایشی" in lines
    # October 2026 runs from 9 Mehr to 9 Aban 1405.
    assert "مهر–آبان ۱۴۰۵ (اکتبر ۲۰۲۶)" in text
    assert {"چاله", "نشت آب", "غرب"} <= set(lines)
    assert "۱۰۰٫۰٪" in text
    assert not re.search(r"\b1405\b|\b2026\b", text)


def test_the_csv_holds_the_kpis_and_rankings_with_a_bom(month, tmp_path):
    content = _write(tmp_path, "ar", "csv")

    rows = _csv_rows(content)
    assert content.startswith(b"\xef\xbb\xbf")
    kpis = {row[0]: row[2:] for row in rows if len(row) == 5}
    assert kpis["reports"] == ["3", "1", "2"]
    assert kpis["on_time_share"] == ["100.0", "0.0", "100.0"]
    assert kpis["backlog_overdue"] == ["1", "0", "1"]
    assert kpis["satisfaction"] == ["4.0", "", ""]
    with translation.override("ar"):
        titles = gettext("Department ranking"), gettext("District ranking")
        yes = gettext("yes")
    assert titles != ("Department ranking", "District ranking")  # in Arabic
    departments = rows.index([titles[0]])
    districts = rows.index([titles[1]])
    # rank, previous rank, movement, name, ranked, opened, resolved, response rate (%),
    # within SLA (%), average days to resolve, satisfaction
    assert rows[departments + 2:districts - 1] == [
        ["1", "1", "0", "قسم", yes, "2", "1", "100.0", "100.0", "3.0", "4.0"],
        ["2", "", "", "المياه", yes, "1", "0", "0.0", "", "", ""]]
    assert rows[districts + 2:] == [
        ["1", "1", "0", "الغرب", yes, "1", "1", "100.0", "100.0", "3.0", "4.0"],
        ["2", "", "", "East", yes, "2", "0", "50.0", "", "", ""]]


def test_the_pdf_renderer_loads_nothing_from_outside_the_page(tmp_path):
    from incidents.stats.report.render import html_to_pdf

    picture = tmp_path / "picture.jpg"
    picture.write_bytes(jpeg_bytes())

    pdf = html_to_pdf(f'<p>a</p><img src="file://{picture}"><img src="http://127.0.0.1:9/x">')

    assert pdf.startswith(b"%PDF-")
    assert b"/Image" not in pdf


@pytest.mark.parametrize(("option", "value"), [
    ("month", "2026-13"), ("month", "soon"), ("month", "2026-1"), ("month", "future"),
    ("lang", "de"), ("fmt", "docx"),
])
def test_bad_input_is_refused_and_nothing_is_written(city, tmp_path, option, value):
    today = timezone.localdate()
    if value == "future":
        value = f"{today.year + 1}-{today.month:02d}"
    options = {"month": "2026-10", "lang": "en", "fmt": "pdf"} | {option: value}
    out = tmp_path / "report.pdf"

    with pytest.raises(CommandError, match=value):
        call_command("monthly_report", out=str(out), **options)

    assert list(tmp_path.iterdir()) == []


def test_an_unknown_area_is_refused(city, tmp_path):
    with pytest.raises(CommandError, match="nowhere"):
        call_command("monthly_report", month="2026-10", area="nowhere",
                     out=str(tmp_path / "r.pdf"))

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("language", "year", "month_number", "label"), [
    ("en", 2026, 11, "November 2026"),
    ("ar", 2026, 11, "نوفمبر ٢٠٢٦"),
    # A Gregorian month spans two Solar Hijri ones, across the Persian new year in March.
    ("fa", 2026, 11, "آبان–آذر ۱۴۰۵"),
    ("fa", 2027, 3, "اسفند ۱۴۰۵–فروردین ۱۴۰۶"),
])
def test_months_are_named_in_the_readers_calendar(language, year, month_number, label):
    assert month_label(month_period(year, month_number), language) == label


@pytest.mark.parametrize(("language", "label"), [
    ("en", "1 October 2026"), ("ar", "١ أكتوبر ٢٠٢٦"), ("fa", "۹ مهر ۱۴۰۵"),
])
def test_days_are_written_in_the_readers_calendar(language, label):
    assert date_label(date(2026, 10, 1), language) == label


@pytest.mark.parametrize(("language", "share", "change", "text"), [
    ("en", 0.725, -0.165, "72.5% −16.5"), ("ar", 0.725, -0.165, "٧٢٫٥٪ \u061c-١٦٫٥"),
    ("fa", 0.725, 0.165, "۷۲٫۵٪ \u200e+۱۶٫۵"),
])
def test_numbers_are_written_in_the_locales_digits(language, share, change, text):
    numbers = Numbers(language)

    written = numbers.percent(share) + " " + numbers.signed(numbers.decimal(abs(change) * 100),
                                                            change)

    assert written == text


# The dashboard's download.

URL = "/console/dashboard/report/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager():
    return user_with_role(Role.MANAGER, "boss", email="boss@example.org", first_name="Amina")


def test_a_manager_downloads_the_pdf(month, manager):
    response = _client(manager).get(URL, {"month": "2026-10", "lang": "ar", "format": "pdf"})

    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response["Content-Disposition"] == \
        'attachment; filename="rasad-test-city-2026-10-ar.pdf"'
    assert response.content.startswith(b"%PDF-")


def _department_rows(response) -> list[str]:
    rows = _csv_rows(response.content)
    start = next(i for i, row in enumerate(rows) if row == ["Department ranking"])
    end = next(i for i, row in enumerate(rows) if row == ["District ranking"])
    return [row[3] for row in rows[start + 2:end] if row]


def test_a_dispatcher_gets_the_report_of_their_departments(month, manager, dispatcher):
    query = {"month": "2026-10", "lang": "en", "format": "csv"}

    theirs = _client(dispatcher).get(URL, query)
    everything = _client(manager).get(URL, query)

    assert (theirs.status_code, theirs["Content-Type"]) == (200, "text/csv; charset=utf-8")
    assert _department_rows(theirs) == ["Roads"]
    assert _department_rows(everything) == ["Roads", "Water"]


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.INTAKE_AGENT, Role.CREW])
def test_other_roles_may_not_download_it(city, role):
    response = _client(user_with_role(role)).get(URL, {"month": "2026-10"})

    assert response.status_code == 403


def test_without_a_login_the_download_asks_for_one(city):
    response = Client().get(URL, {"month": "2026-10"})

    assert (response.status_code, response["Location"].split("?")[0]) == (302,
                                                                          "/accounts/login/")


@pytest.mark.parametrize(("field", "value"), [
    ("month", "2026-13"), ("month", "soon"), ("month", "2999-01"), ("lang", "xx"),
    ("format", "docx"), ("area", "nowhere"),
])
def test_bad_input_is_a_400_in_the_readers_language(city, manager, field, value):
    query = {"month": "2026-10", "lang": "en", "format": "pdf"} | {field: value}

    response = _client(manager).get(URL, query, HTTP_ACCEPT_LANGUAGE="fa")

    body = response.json()
    assert (response.status_code, response["Content-Language"]) == (400, "fa")
    assert (body["code"], list(body["errors"]), value in body["detail"]) == (
        "invalid", [field], True)


# The mail on the 1st.

@pytest.fixture
def managers(settings):
    settings.RASAD_REPORT_LANGUAGE = "en"
    settings.RASAD_REPORT_USER_LANGUAGES = {"reza": "fa"}
    return [user_with_role(Role.MANAGER, "reza", email="reza@example.org"),
            user_with_role(Role.MANAGER, "lena", email="lena@example.org"),
            user_with_role(Role.MANAGER, "nomail", email=""),
            user_with_role(Role.DISPATCHER, "disp", email="disp@example.org")]


def _on(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: when)


def test_on_the_first_each_manager_gets_last_months_pdf_in_their_language(
        month, managers, monkeypatch):
    _on(monkeypatch, at(date(2026, 11, 1), 6))

    result = monthly_report_mail_task()

    sent = sorted(mail.outbox, key=lambda m: m.to)
    assert result == {"month": "2026-10", "sent": 2}
    assert [m.to for m in sent] == [["lena@example.org"], ["reza@example.org"]]
    assert [[(name, kind) for name, _content, kind in m.attachments] for m in sent] == [
        [("rasad-test-city-2026-10-en.pdf", "application/pdf")],
        [("rasad-test-city-2026-10-fa.pdf", "application/pdf")]]
    assert sent[0].subject == "Monthly report of Test City: October 2026"
    assert "مهر–آبان ۱۴۰۵" in sent[1].subject
    assert "3 reports were received in October 2026" in sent[0].body
    assert all(m.attachments[0][1].startswith(b"%PDF-") for m in sent)
    assert sent[0].extra_headers["Auto-Submitted"] == "auto-generated"


def test_on_another_day_the_task_sends_nothing(month, managers, monkeypatch):
    _on(monkeypatch, at(date(2026, 11, 2), 6))

    result = monthly_report_mail_task()

    assert (result, len(mail.outbox)) == ({"month": "", "sent": 0}, 0)


def test_given_a_month_the_task_sends_it_on_any_day(month, managers, monkeypatch):
    _on(monkeypatch, at(date(2026, 11, 17), 6))

    result = monthly_report_mail_task(month="2026-09")

    assert result == {"month": "2026-09", "sent": 2}
    assert sorted(m.attachments[0][0] for m in mail.outbox) == [
        "rasad-test-city-2026-09-en.pdf", "rasad-test-city-2026-09-fa.pdf"]


def test_a_second_delivery_of_the_task_sends_nothing_more(month, managers, monkeypatch):
    _on(monkeypatch, at(date(2026, 11, 1), 6))
    monthly_report_mail_task()

    again = monthly_report_mail_task()

    assert (again, len(mail.outbox)) == ({"month": "2026-10", "sent": 0}, 2)


def test_making_a_pdf_leaves_damaged_photos_refused():
    from incidents.exceptions import PhotoRejected
    from incidents.photos import photo_clean
    from incidents.stats.report.render import html_to_pdf

    html_to_pdf("<p>x</p>")  # WeasyPrint, once imported, would let Pillow read them

    damaged = jpeg_bytes(size=(200, 200))
    with pytest.raises(PhotoRejected, match="damaged"):
        photo_clean(damaged[: len(damaged) // 2], name="cut.jpg")
