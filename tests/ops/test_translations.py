"""The Arabic and Persian catalogues in map_ui/locale: complete, well-formed, compiled, used.

Both domains are checked: `django` (Python and templates) and `djangojs` (the pages'
JavaScript, served by /jsi18n/). The .po files are read with a small parser here (no extra
dependency). After `makemessages` (and `makemessages -d djangojs`) adds strings, translate
them and run `manage.py compilemessages`.
"""

import ast
import gettext
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from incidents.models import Status

LOCALE_DIR = Path(settings.BASE_DIR) / "map_ui" / "locale"
LANGUAGES = ("ar", "fa")
DOMAINS = ("django", "djangojs")
NPLURALS = {"ar": 6, "fa": 2}
# printf conversions, named or not; "%%" is a literal percent sign and is left out.
CONVERSION = re.compile(r"%(?:\((\w+)\))?[#0 +\-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")
# Arabic yeh and kaf do not belong in Persian text, Persian yeh and keheh not in Arabic.
FOREIGN_LETTERS = {"fa": {"\u064a", "\u0643"}, "ar": {"\u06cc", "\u06a9"}}


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def texts(self) -> list[str]:
        if self.msgid_plural is None:
            return [self.msgstr]
        return [self.msgstr_plural[i] for i in sorted(self.msgstr_plural)]


def po_parse(path: Path) -> list[Entry]:
    """Entries of a .po file, the header first; obsolete `#~` entries are left out.

    Entries are separated by blank lines, as makemessages and msgmerge write them."""
    entries, block = [], []
    lines = [*path.read_text(encoding="utf-8").splitlines(), ""]
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            block.append((number, raw.strip()))
        elif block:
            entry = _entry_parse(path, block)
            if entry is not None:
                entries.append(entry)
            block = []
    return entries


def _entry_parse(path: Path, block: list[tuple[int, str]]) -> Entry | None:
    entry, target = Entry(line=block[0][0]), None
    for number, line in block:
        if line.startswith("#"):
            if line.startswith("#,"):
                entry.flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith('"'):
            assert target is not None, f"{path}:{number}: a string continues nothing"
            value = ast.literal_eval(line)
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest.strip())
            plural = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if plural:
                target = int(plural.group(1))
                entry.msgstr_plural[target] = ""
            elif keyword in {"msgid", "msgid_plural", "msgstr", "msgctxt"}:
                target = keyword
                setattr(entry, keyword, "")
            else:
                raise AssertionError(f"{path}:{number}: unexpected line {line!r}")
        if isinstance(target, int):
            entry.msgstr_plural[target] += value
        else:
            setattr(entry, target, getattr(entry, target) + value)
    return entry if target is not None else None


def conversions(text: str) -> set[str]:
    return {m.group(0) for m in CONVERSION.finditer(text) if m.group(0) != "%%"}


def po_path(language: str, domain: str = "django") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


@pytest.fixture(scope="module", params=[(language, domain) for domain in DOMAINS
                                        for language in LANGUAGES],
                ids=lambda param: "-".join(param))
def catalogue(request):
    language, domain = request.param
    path = po_path(language, domain)
    option = "" if domain == "django" else f" -d {domain}"
    assert path.exists(), f"{path} is missing: run makemessages{option} -l {language}"
    entries = po_parse(path)
    header, messages = entries[0], entries[1:]
    assert header.msgid == "", f"{path} does not start with a header entry"
    return language, path, header, messages


def _where(path: Path, entry: Entry) -> str:
    return f"{path.relative_to(settings.BASE_DIR)}:{entry.line} {entry.msgid!r}"


# --- the .po files -------------------------------------------------------------------------

def test_catalogue_has_the_messages(catalogue):
    _language, path, _header, messages = catalogue
    assert len(messages) > 100, f"{path} looks truncated: {len(messages)} messages"


def test_header_names_the_language_and_its_plural_forms(catalogue):
    language, path, header, _messages = catalogue
    fields = dict(line.split(": ", 1) for line in header.msgstr.splitlines() if ": " in line)
    assert fields.get("Language") == language
    assert fields.get("Content-Type") == "text/plain; charset=UTF-8"
    assert f"nplurals={NPLURALS[language]};" in fields.get("Plural-Forms", "")
    assert "fuzzy" not in header.flags, f"{path}: the header is marked fuzzy"


def test_every_message_is_translated_and_none_is_fuzzy(catalogue):
    language, path, _header, messages = catalogue
    untranslated = [_where(path, e) for e in messages if not all(t.strip() for t in e.texts)]
    fuzzy = [_where(path, e) for e in messages if "fuzzy" in e.flags]
    wrong_forms = [_where(path, e) for e in messages
                   if e.msgid_plural is not None and len(e.msgstr_plural) != NPLURALS[language]]
    assert untranslated == [], "untranslated:\n" + "\n".join(untranslated)
    assert fuzzy == [], "fuzzy:\n" + "\n".join(fuzzy)
    assert wrong_forms == [], f"plural entries need {NPLURALS[language]} forms:\n" + "\n".join(
        wrong_forms)


def test_placeholders_match_the_source(catalogue):
    _language, path, _header, messages = catalogue
    wrong = []
    for entry in messages:
        if entry.msgid_plural is None:
            if conversions(entry.msgstr) != conversions(entry.msgid):
                wrong.append(f"{_where(path, entry)}: {sorted(conversions(entry.msgstr))} "
                             f"!= {sorted(conversions(entry.msgid))}")
            continue
        allowed = conversions(entry.msgid) | conversions(entry.msgid_plural)
        for form in entry.msgstr_plural.values():
            if not conversions(form) <= allowed:
                wrong.append(f"{_where(path, entry)}: {sorted(conversions(form))}")
        if conversions(entry.msgstr_plural[max(entry.msgstr_plural)]) != conversions(
                entry.msgid_plural):
            wrong.append(f"{_where(path, entry)}: the last plural form lacks placeholders")
    assert wrong == [], "placeholders differ:\n" + "\n".join(wrong)


def test_text_is_in_the_right_script(catalogue):
    language, path, _header, messages = catalogue
    wrong = [f"{_where(path, e)}: {t!r}" for e in messages for t in e.texts
             if FOREIGN_LETTERS[language] & set(t)]
    assert wrong == [], "letters of the other language:\n" + "\n".join(wrong)


@pytest.mark.parametrize("domain", DOMAINS)
def test_both_languages_have_the_same_messages(domain):
    """makemessages was run for every language: no catalogue lags behind the other."""
    ids = {}
    for language in LANGUAGES:
        path = po_path(language, domain)
        ids[language] = {(e.msgctxt, e.msgid) for e in po_parse(path)[1:]}
    only = {language: sorted(m for _ctxt, m in ids[language] - ids[other])
            for language, other in zip(LANGUAGES, reversed(LANGUAGES), strict=True)}
    assert only == {language: [] for language in LANGUAGES}, (
        f"the {domain} catalogues differ; run makemessages for every language")


def test_compiled_catalogue_matches_the_po(catalogue):
    _language, path, _header, messages = catalogue
    mo = path.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run manage.py compilemessages --ignore=.venv"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in messages:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected[key] = entry.msgstr
        else:
            for index, form in entry.msgstr_plural.items():
                expected[(key, index)] = form
    compiled = {k: v for k, v in compiled.items() if k != ""}
    stale = sorted(str(k) for k in expected.keys() ^ compiled.keys()) + sorted(
        str(k) for k in expected.keys() & compiled.keys() if expected[k] != compiled[k])
    assert stale == [], (f"{mo} is out of date with the .po (run manage.py compilemessages "
                         "--ignore=.venv):\n" + "\n".join(stale[:20]))


# --- Django uses them ----------------------------------------------------------------------

@pytest.mark.parametrize(("language", "msgid", "expected"), [
    ("ar", "“%(code)s” is not a known category.", "«%(code)s» ليست فئة معروفة."),
    ("fa", "“%(code)s” is not a known category.",
     "«%(code)s» دسته\u200cبندی شناخته\u200cشده\u200cای نیست."),
    ("ar", "The description is %(n)s characters long; the limit is %(limit)s.",
     "عدد أحرف الوصف %(n)s، والحد الأقصى %(limit)s."),
    ("fa", "The description is %(n)s characters long; the limit is %(limit)s.",
     "توضیحات %(n)s نویسه است؛ حداکثر %(limit)s نویسه مجاز است."),
    ("ar", "Your report %(code)s (%(category)s) is now: %(status)s.",
     "حالة بلاغك %(code)s (%(category)s) الآن: %(status)s."),
    ("fa", "Your report %(code)s (%(category)s) is now: %(status)s.",
     "وضعیت گزارش شما %(code)s (%(category)s) اکنون: %(status)s."),
])
def test_gettext_returns_the_translation(language, msgid, expected):
    with translation.override(language):
        assert translation.gettext(msgid) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("ar", ["جديد", "تم التحقق منه", "تمت معالجته", "مغلق"]),
    ("fa", ["جدید", "تأییدشده", "رفع\u200cشده", "بسته\u200cشده"]),
    ("en", ["new", "verified", "resolved", "closed"]),
])
def test_status_labels_follow_the_language(language, expected):
    with translation.override(language):
        labels = [str(s.label) for s in (Status.NEW, Status.VERIFIED, Status.RESOLVED,
                                          Status.CLOSED)]
    assert labels == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "detail"), [
    ("ar", "«unicorn» ليست فئة معروفة."),
    ("fa", "«unicorn» دسته\u200cبندی شناخته\u200cشده\u200cای نیست."),
    ("en", "“unicorn” is not a known category."),
])
def test_api_error_follows_accept_language(api_client, language, detail):
    response = api_client.post("/api/v1/reports/",
                               {"category": "unicorn", "lon": "24.93", "lat": "60.17"},
                               format="json", headers={"Accept-Language": language})

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_category"
    assert response.json()["detail"] == detail


# --- the pages' JavaScript gets them from /jsi18n/ -----------------------------------------

NEW_CATALOGUE = re.compile(r"const newcatalog = (\{.*?\n\s*\});", re.S)


def _jsi18n(client, language: str) -> dict:
    response = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    found = NEW_CATALOGUE.search(response.content.decode())
    assert found, "no catalogue in the /jsi18n/ response"
    return json.loads(found.group(1))


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "msgid", "expected"), [
    ("fa", "Finding where you are…", "در حال یافتن موقعیت شما…"),
    ("fa", "Tap the map where the problem is, or use “Locate me”.",
     "روی نقشه، جای مشکل را لمس کنید یا از «موقعیت من» استفاده کنید."),
    ("fa", "%(n)s report", ["%(n)s گزارش", "%(n)s گزارش"]),
    ("ar", "Finding where you are…", "جارٍ تحديد موقعك…"),
    ("ar", "%(n)s report", ["لا بلاغات", "بلاغ واحد", "بلاغان", "%(n)s بلاغات", "%(n)s بلاغًا",
                            "%(n)s بلاغ"]),
])
def test_javascript_catalogue_follows_accept_language(client, language, msgid, expected):
    assert _jsi18n(client, language)[msgid] == expected


@pytest.mark.django_db
def test_javascript_catalogue_in_english_is_empty(client):
    """English is the source language: the pages keep their own strings."""
    response = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert not NEW_CATALOGUE.search(response.content.decode())
