"""Numbers and dates as the report's language writes them: Arabic-Indic digits in
Arabic, Persian digits in Persian, the Solar Hijri calendar in Persian."""

from datetime import date

from django.utils import translation
from django.utils.dates import MONTHS

from incidents.stats.figures import Period

_DIGITS = {"ar": str.maketrans("0123456789.,%", "٠١٢٣٤٥٦٧٨٩٫٬٪"),
           "fa": str.maketrans("0123456789.,%", "۰۱۲۳۴۵۶۷۸۹٫٬٪")}
# CLDR's signs: an Arabic letter mark keeps a sign before its number in Arabic text, a
# left-to-right mark in Persian (whose minus is U+2212).
_SIGNS = {"ar": ("\u061c+", "\u061c-"), "fa": ("\u200e+", "\u200e\u2212"), "en": ("+", "−")}


class Numbers:
    """Formats numbers the way the language writes them."""

    def __init__(self, language: str):
        self.language = language

    def digits(self, text: str) -> str:
        table = _DIGITS.get(self.language)
        return text.translate(table) if table else text

    def count(self, value: int | None) -> str:
        return "—" if value is None else self.digits(f"{value:,}")

    def decimal(self, value: float | None, places: int = 1) -> str:
        return "—" if value is None else self.digits(f"{value:,.{places}f}")

    def percent(self, share: float | None, places: int = 1) -> str:
        return "—" if share is None else self.digits(f"{share * 100:.{places}f}%")

    def signed(self, text: str, value: float) -> str:
        plus, minus = _SIGNS.get(self.language, _SIGNS["en"])
        if value > 0:
            return plus + text
        if value < 0:
            return minus + text
        return text


def _month_name(month: int, language: str) -> str:
    with translation.override(language):
        return str(MONTHS[month])


def _solar(day: date):
    import jdatetime

    return jdatetime.date.fromgregorian(date=day)


_SOLAR_MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان",
                 "آذر", "دی", "بهمن", "اسفند")


def month_label(period: Period, language: str, *, long: bool = False) -> str:
    """The month's name: "November 2026", "نوفمبر ٢٠٢٦", or in Persian the Solar Hijri
    months it spans ("آبان–آذر ۱۴۰۵": a Gregorian month runs from about the 10th of one
    to the 10th of the next), `long` with the Gregorian name after them, as the dashboard
    gives it ("آبان–آذر ۱۴۰۵ (نوامبر ۲۰۲۶)")."""
    numbers = Numbers(language)
    if language == "fa" and long:
        gregorian = numbers.digits(f"{_month_name(period.first.month, language)} "
                                   f"{period.first.year}")
        return f"{month_label(period, language)} ({gregorian})"
    if language == "fa":
        first, last = _solar(period.first), _solar(period.last)
        if (first.year, first.month) == (last.year, last.month):
            return numbers.digits(f"{_SOLAR_MONTHS[first.month - 1]} {first.year}")
        if first.year == last.year:
            return numbers.digits(f"{_SOLAR_MONTHS[first.month - 1]}–"
                                  f"{_SOLAR_MONTHS[last.month - 1]} {first.year}")
        return numbers.digits(f"{_SOLAR_MONTHS[first.month - 1]} {first.year}–"
                              f"{_SOLAR_MONTHS[last.month - 1]} {last.year}")
    return numbers.digits(f"{_month_name(period.first.month, language)} {period.first.year}")


def date_label(day: date, language: str) -> str:
    """A day written out: "6 December 2026", "٦ ديسمبر ٢٠٢٦", "۱۵ آذر ۱۴۰۵"."""
    numbers = Numbers(language)
    if language == "fa":
        solar = _solar(day)
        return numbers.digits(f"{solar.day} {_SOLAR_MONTHS[solar.month - 1]} {solar.year}")
    return numbers.digits(f"{day.day} {_month_name(day.month, language)} {day.year}")
