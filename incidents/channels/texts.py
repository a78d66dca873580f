"""What the bot says and what it understands: its messages (translated, ar/fa/en), the
commands citizens type in any of the three languages, numbers in any digits, and the
language of a text."""

import re
import unicodedata

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from gis.geocode import fold

LANGUAGES = ("ar", "fa", "en")
LANGUAGE_NAMES = {"ar": "العربية", "fa": "فارسی", "en": "English"}

# Commands: the whole message, folded (gis.geocode.fold: one spelling per Arabic/Persian
# letter, lower case). "إلغاء" / "لغو" unsubscribe, as STOP does.
COMMANDS = {
    "stop": {"stop", "/stop", "stopall", "unsubscribe", "end", "quit", "optout", "revoke",
             "الغاء", "لغو", "توقف", "اوقف", "ایقاف", "لغو اشتراک"},
    # Ends the conversation under way (on SMS, where carriers read CANCEL as STOP, it
    # unsubscribes too).
    "cancel": {"cancel", "/cancel", "انصراف"},
    "start": {"start", "/start", "unstop", "subscribe", "ابدا", "شروع", "اشتراک"},
    "new": {"new", "/new", "new report", "report", "جدید", "بلاغ جدید", "بلاغ", "گزارش جدید",
            "گزارش"},
    "person": {"agent", "human", "person", "operator", "staff", "موظف", "انسان", "شخص",
               "اپراتور", "کارشناس", "مامور"},
    "skip": {"skip", "no photo", "none", "تخطی", "بدون صوره", "لا یوجد", "رد", "بدون عکس",
             "ندارم", "بعدی"},
    "yes": {"yes", "y", "ok", "okay", "sure", "نعم", "اجل", "ای", "ایوه", "تمام", "بله", "اره",
            "باشه", "اوکی", "بلی"},
    "no": {"no", "n", "nope", "لا", "کلا", "نه", "خیر", "نخیر"},
    "broken": {"still broken", "not fixed", "broken", "not done", "لم یصلح", "لم یتم",
               "ما زال", "لا یزال", "معطل", "خراب", "هنوز خراب", "درست نشده", "نشده"},
    "fixed": {"fixed", "done", "solved", "تم", "تم الاصلاح", "تم الحل", "انجام شد",
              "درست شد", "حل شد"},
}
# Area alerts where the citizen's last report was (incidents.services.alerts).
COMMANDS["alerts"] = {fold(word) for word in (
    "alerts", "/alerts", "alert", "تنبيهات", "تنبيه", "اشعارات", "هشدار", "هشدارها",
    "اطلاعیه", "اطلاعیه ها")}
# Words of one language only, among the commands and greetings: an answer to "إلغاء" is in
# Arabic, to "لغو" in Persian, whatever the letters say.
WORD_LANGUAGE = {
    "ar": {"الغاء", "توقف", "اوقف", "ایقاف", "ابدا", "جدید", "بلاغ جدید", "بلاغ", "موظف",
           "مرحبا", "اهلا", "السلام علیکم", "صباح الخیر", "نعم", "لا"},
    "fa": {"لغو", "لغو اشتراک", "شروع", "اشتراک", "گزارش جدید", "گزارش", "اپراتور",
           "کارشناس", "درود", "صبح بخیر", "بله", "نه", "خیر"},
}
GREETINGS = {"hi", "hello", "hey", "salam", "salaam", "good morning", "مرحبا", "اهلا",
             "السلام علیکم", "سلام", "سلام علیکم", "درود", "صبح بخیر", "صباح الخیر"}
_NUMBER = re.compile(r"^\s*(\d{1,3})\s*[.)\-]?\s*$")
_NUMBERS = re.compile(r"\d{1,3}")
_PERSIAN_ONLY = set("پچژگکیۀ")  # letters Arabic does not use
_ARABIC_ONLY = set("ةيكىأإؤئ")  # letters, or forms, Persian rarely uses
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile(r"[A-Za-z]")


def command_of(text: str) -> str | None:
    folded = fold(text).strip(" .!")
    for name, words in COMMANDS.items():
        if folded in {fold(w) for w in words}:
            return name
    return None


def is_greeting(text: str) -> bool:
    return fold(text).strip(" .!") in {fold(g) for g in GREETINGS}


def number_of(text: str) -> int | None:
    """A reply that is one number ("2", "٢", "۲.", "2)")."""
    match = _NUMBER.match(fold(text))
    return int(match[1]) if match else None


def numbers_of(text: str) -> list[int]:
    return [int(n) for n in _NUMBERS.findall(fold(text))]


def language_detect(text: str) -> str | None:
    """ar, fa or en from the letters of a text, or None when it cannot tell (too short, or
    words both languages write alike, such as «سلام»)."""
    folded = fold(text or "").strip(" .!")
    for language, words in WORD_LANGUAGE.items():
        if folded in {fold(w) for w in words}:
            return language
    text = unicodedata.normalize("NFC", text or "")
    arabic_script = len(_ARABIC_SCRIPT.findall(text))
    latin = len(_LATIN.findall(text))
    if arabic_script >= 2 and arabic_script >= latin:
        persian = sum(ch in _PERSIAN_ONLY for ch in text)
        arabic = sum(ch in _ARABIC_ONLY for ch in text) + text.count("ال")
        if persian > arabic:
            return "fa"
        if arabic > persian:
            return "ar"
        return None
    if latin >= 2:
        return "en"
    return None


def language_from_hint(hint: str) -> str | None:
    code = (hint or "").split("-")[0].lower()
    return code if code in LANGUAGES else None


def city_name() -> str:
    from gis.models import ServiceArea

    area = ServiceArea.objects.order_by("pk").first()
    return area.name_in() if area else _("the city")


def track_url(code: str) -> str:
    return f"{settings.RASAD_PUBLIC_URL}/track/{code}/"


# -- The bot's messages. Each is built in the conversation's language (the caller activates
# it); the language question is asked in all three. ------------------------------------------

def ask_language() -> str:
    lines = []
    for language in ("ar", "fa", "en"):
        with translation.override(language):
            lines.append(_("Welcome. Please choose your language."))
    return "\n".join(lines)


def greeting() -> str:
    return _("Hello! I am the reports assistant of %(city)s. I will ask a few short "
             "questions and file your report.") % {"city": city_name()}


def ask_category() -> str:
    return _("What is the problem? Choose one.")


def ask_category_again() -> str:
    return _("Sorry, I did not find that category. Please choose one of the numbers.")


def ask_number() -> str:
    return _("Please reply with one of the numbers.")


def ask_question(description: str, datatype: str) -> str:
    hints = {
        "number": _("Reply with a number."),
        "multivaluelist": _("Reply with the numbers of all that apply, separated by commas."),
        "datetime": _("Reply with a date and time, like 2026-01-31 14:00."),
    }
    hint = hints.get(datatype)
    return f"{description}\n{hint}" if hint else description


def ask_location(*, can_share: bool) -> str:
    if can_share:
        return _("Where is it? Share the location (📎 → Location), or type the street name, "
                 "a landmark or a map link. Send SKIP if you cannot.")
    return _("Where is it? Type the street name, a landmark or a map link. Send SKIP if you "
             "cannot.")


def share_location_button() -> str:
    return _("📍 Send location")


def ask_place() -> str:
    return _("Did you mean one of these places?")


def none_of_these() -> str:
    return _("None of these")


def place_not_found(text: str) -> str:
    return _("I could not find “%(text)s” in %(city)s. Try another street name or a "
             "landmark, share the location, or send SKIP.") % {"text": text[:80],
                                                               "city": city_name()}


def outside_area(area_name: str) -> str:
    return _("That place is outside the service area of %(area)s. Please send a place inside "
             "%(area)s.") % {"area": area_name}


def used_photo_location() -> str:
    return _("I used the location stored in your photo.")


def near_street(street: str) -> str:
    return _("near %(street)s") % {"street": street}


def ask_me_too(count: int, status: str) -> str:
    return _("This problem has already been reported here (%(count)s reports, now: "
             "%(status)s). Shall I add you to it? You will get its updates.") % {
        "count": count, "status": status}


def me_too_yes() -> str:
    return _("Yes, me too")


def me_too_no() -> str:
    return _("No, it is different")


def ask_photo() -> str:
    return _("Can you send a photo of it? Send SKIP if not.")


def no_photo() -> str:
    return _("No photo")


def ask_confirm(summary: str) -> str:
    return _("Please check your report:\n%(summary)s\nShall I send it?") % {"summary": summary}


def confirm_yes() -> str:
    return _("Send it")


def confirm_no() -> str:
    return _("Start over")


def summary_line(label: str, value: str) -> str:
    return _("%(label)s: %(value)s") % {"label": label, "value": value}


def label_category() -> str:
    return _("Problem")


def label_place() -> str:
    return _("Place")


def label_photos() -> str:
    return _("Photos")


def label_description() -> str:
    return _("Description")


def starting_over() -> str:
    return _("Let's start again.")


def filed(code: str) -> str:
    return _("Thank you! Your report is filed. Tracking code: %(code)s\nFollow it here: "
             "%(url)s\nWe will message you here when its status changes. To report another "
             "problem, send NEW.") % {"code": code, "url": track_url(code)}


def joined(code: str) -> str:
    return _("Thank you! You are added to the report of this problem. Your tracking code: "
             "%(code)s\nFollow it here: %(url)s\nWe will message you here when its status "
             "changes.") % {"code": code, "url": track_url(code)}


def handed_no_location() -> str:
    return _("Thank you. Our team will place your report on the map and send you its "
             "tracking code here.")


def handed_to_person() -> str:
    return _("A member of our team will read your messages and answer you here.")


def handed_no_category() -> str:
    return _("Thank you. Our team will read your message and file it for you.")


def unsupported() -> str:
    return _("Sorry, I cannot read this kind of message. I understand text, photos and "
             "locations. Our team will look at what you sent.")


def photo_failed(reason: str) -> str:
    return _("I could not receive your photo (%(reason)s). Please send it again, or send "
             "SKIP.") % {"reason": reason}


def photos_limit(count: int) -> str:
    return _("A report can have at most %(n)s photos; I kept the first %(n)s.") % {"n": count}


def too_long(count: int) -> str:
    return _("Your message is long: the report keeps its first %(n)s characters, and our "
             "team can read all of it.") % {"n": count}


def answer_invalid(message: str) -> str:
    return _("Sorry: %(message)s") % {"message": message}


def cancelled() -> str:
    return _("Cancelled. Write to us any time to report a problem.")


def stopped() -> str:
    return _("You will get no more messages from us here. Send START to get them again.")


def started() -> str:
    return _("Welcome back: you will get the news of your reports here again.")


def expired() -> str:
    return _("We have not heard from you for a while, so our team will look at what you "
             "sent. To start a new report, send NEW.")


def reply_attached(code: str) -> str:
    return _("Thank you, we added this to your report %(code)s. To report a new problem, "
             "send NEW.") % {"code": code}


def reply_reopened(code: str) -> str:
    return _("We have reopened your report %(code)s and told the team.") % {"code": code}


def reply_confirmed(code: str) -> str:
    return _("Thank you for confirming that the problem of report %(code)s is fixed.") % {
        "code": code}


def reply_refused(reason: str) -> str:
    return reason


def added_for_team() -> str:
    return _("Thank you, we added this to your message for our team.")


def fixed_button() -> str:
    return _("It is fixed")


def broken_button() -> str:
    return _("Still broken")


def reporter_added(channel: str, text: str) -> str:
    return _("The reporter added (%(channel)s): %(text)s") % {"channel": channel, "text": text}


def reporter_added_photo(channel: str) -> str:
    return _("The reporter added a photo (%(channel)s).") % {"channel": channel}


def reopen_reason(channel: str, text: str) -> str:
    if text:
        return _("Still broken, says the reporter (%(channel)s): %(text)s") % {
            "channel": channel, "text": text}
    return _("Still broken, says the reporter (%(channel)s).") % {"channel": channel}


def reply_subject() -> str:
    return _("Your message to %(city)s") % {"city": city_name()}
