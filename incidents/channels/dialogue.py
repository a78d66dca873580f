"""The conversation that turns a citizen's messages into a report, the same on every channel.

One step per message, inside the worker's transaction (incidents.channels.process): what the
message carries is kept first (a location, a photo, text), then the answer to the question
asked last is read, then the next missing piece is asked: the language (detected when it
can be), the category, the category's required questions, the location (a pin, a map link,
a street or landmark, or SKIP), "me too" when an open incident of that category is there, a
photo (optional), and a confirmation. The report is filed through the same intake as every
other channel. What the dialogue cannot finish goes to the verification inbox, never away.

Everything said so far lives in `Conversation.data`:
  description    free text the citizen wrote that answered no question
  category       the category's code          answers   {question code: answer}
  question       the question asked last      lon, lat, address   the place
  places         places offered for a typed street    location_skipped
  photos         InboundMedia ids of ready photos      photo_done
  me_too         "join" or "new", once asked           me_too_incident
  offered        ids of the options of the last question (numbers map onto them)
  tries          {state: wrong answers}
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point
from django.utils import timezone, translation
from rapidfuzz import fuzz, process

from crews.exceptions import IntakePaused
from gis.areas import place_point
from gis.geocode import coordinates_parse, fold, places_find, street_near
from gis.models import District, ServiceArea
from incidents.channels import texts
from incidents.channels.base import LOCATION_OPTION
from incidents.exceptions import Conflict, DomainError, OutsideServiceArea, ValidationFailed
from incidents.models import (
    Category,
    CategoryAttribute,
    ChannelContact,
    Conversation,
    InboundMedia,
    InboundMessage,
    InboxItem,
    Incident,
    Report,
    Status,
)

logger = logging.getLogger(__name__)

S = Conversation.State
MAX_TRIES = 3
MAX_PHOTOS = 5


@dataclass
class Reply:
    text: str
    options: list[dict] = field(default_factory=list)


def category_options(language: str) -> list[dict]:
    """The active categories, grouped, "other" last, named in the citizen's language. In
    storm mode the hazard's categories come first and paused ones are left out."""
    from crews.selectors_storm import emergency_mode_get_active, storm_categories_first

    categories = sorted(Category.objects.filter(active=True),
                        key=lambda c: (c.code == "other", c.group, c.name_in(language)))
    mode = emergency_mode_get_active()
    if mode is not None:
        paused = {c.pk for c in mode.paused_categories.all()}
        categories = storm_categories_first([c for c in categories if c.pk not in paused],
                                            mode=mode)
    return [{"id": f"cat:{c.code}", "title": c.name_in(language)} for c in categories]


def storm_note(language: str) -> str | None:
    """The storm mode's message, said before the category question while a mode runs."""
    from crews.selectors_storm import emergency_mode_get_active

    mode = emergency_mode_get_active()
    return mode.message_in(language) if mode is not None else None


def _required_questions(category: Category) -> list[CategoryAttribute]:
    return [a for a in category.attributes.all() if a.required]


class Dialogue:
    """One step of one conversation. `replies` is what to answer; the caller writes them
    to the outbox."""

    def __init__(self, *, contact: ChannelContact, message: InboundMessage,
                 conversation: Conversation, provider, now=None):
        self.contact = contact
        self.message = message
        self.conversation = conversation
        self.provider = provider
        self.now = now or timezone.now()
        self.data = conversation.data
        self.replies: list[Reply] = []
        self.notes: list[str] = []
        self.language_answered = False

    # -- helpers ---------------------------------------------------------------------------

    @property
    def language(self) -> str:
        return self.conversation.language or "en"

    def _state(self, state: str) -> None:
        self.conversation.state = state

    def _offer(self, options: list[dict]) -> list[dict]:
        self.data["offered"] = [o["id"] for o in options if o["id"] != LOCATION_OPTION]
        return options

    def _ask(self, text: str, options: list[dict] | None = None) -> None:
        options = self._offer(options or [])
        body = "\n\n".join([*self.notes, text]) if self.notes else text
        self.notes = []
        self.replies.append(Reply(text=body, options=options))

    def _say(self, text: str) -> None:
        body = "\n\n".join([*self.notes, text]) if self.notes else text
        self.notes = []
        self.replies.append(Reply(text=body))

    def _chosen(self) -> str | None:
        """The option the message picks: a button's id, a number, or an option's title."""
        offered = self.data.get("offered") or []
        message = self.message
        if message.choice and message.choice in offered:
            return message.choice
        number = texts.number_of(message.text)
        if number is not None and 1 <= number <= len(offered):
            return offered[number - 1]
        return None

    def _try_failed(self, state: str) -> int:
        tries = self.data.setdefault("tries", {})
        tries[state] = tries.get(state, 0) + 1
        return tries[state]

    # -- the step --------------------------------------------------------------------------

    def step(self) -> None:
        message = self.message
        command = texts.command_of(message.text) if message.kind in ("text", "choice") else None
        if not self.conversation.language:
            self._language_from_message()
        with translation.override(self.language):
            self._keep_content()
            answered = False
            if message.text or message.choice:
                answered = self._answer(command)
            if not answered and message.kind == "text" and message.text.strip() and \
                    command is None and not texts.is_greeting(message.text):
                self._describe(message.text)
            if self.conversation.state not in Conversation.OPEN_STATES:
                return
            if command == "person":
                self._hand_over(InboxItem.Reason.ASKED_FOR_PERSON, texts.handed_to_person())
                return
            self._advance()

    def _language_from_message(self) -> None:
        conversation = self.conversation
        if conversation.state == S.LANGUAGE:
            chosen = self._chosen()
            if chosen and chosen.startswith("lang:"):
                conversation.language = chosen[5:]
                self.language_answered = True
                return
            folded = fold(self.message.text)
            for code, name in texts.LANGUAGE_NAMES.items():
                if folded in (fold(name), code, {"ar": "arabic", "fa": "persian", "en":
                                                 "english"}[code]):
                    conversation.language = code
                    self.language_answered = True
                    return
        # A command (/start, STOP…) says nothing of the citizen's language.
        text = "" if texts.command_of(self.message.text) else self.message.text
        detected = (texts.language_detect(text) or self.contact.language or
                    texts.language_from_hint(self.contact.language_hint))
        if detected:
            conversation.language = detected

    def _keep_content(self) -> None:
        """What the message carries is kept whatever was asked: a pin, photos, and a note
        when something could not be kept."""
        message = self.message
        if message.kind == "location" and message.lon is not None:
            self._place_set(message.lon, message.lat, message.text)
        if message.kind == "image":
            files = list(message.files.all())
            ready = [f for f in files if f.state == InboundMedia.State.READY and f.is_photo]
            failed = [f for f in files if f.state == InboundMedia.State.FAILED]
            photos = self.data.setdefault("photos", [])
            for photo in ready:
                if photo.pk in photos:
                    continue
                if len(photos) >= MAX_PHOTOS:
                    self.notes.append(texts.photos_limit(MAX_PHOTOS))
                    break
                photos.append(photo.pk)
            if failed:
                self.notes.append(texts.photo_failed(failed[0].error or "?"))
            if message.text:  # a caption describes the problem
                self._describe(message.text)
        if message.kind == "unsupported":
            self.notes.append(texts.unsupported())
            from incidents.channels.process import inbox_add

            inbox_add(contact=self.contact, reason=InboxItem.Reason.UNSUPPORTED,
                      conversation=self.conversation, messages=[message],
                      language=self.language)

    def _describe(self, text: str) -> None:
        text = text.strip()
        description = self.data.get("description", "")
        if text and text not in description:
            self.data["description"] = f"{description}\n{text}".strip()

    # -- answers ---------------------------------------------------------------------------

    def _answer(self, command: str | None) -> bool:
        """Read the message as the answer to the question asked last; True if it was one."""
        state = self.conversation.state
        if state == S.CATEGORY:
            return self._answer_category()
        if state == S.QUESTION:
            return self._answer_question()
        if state == S.LOCATION:
            return self._answer_location(command)
        if state == S.ME_TOO:
            return self._answer_me_too(command)
        if state == S.PHOTO:
            if command in ("skip", "no") or self._chosen() == "photo:skip":
                self.data["photo_done"] = True
                return True
            return False
        if state == S.CONFIRM:
            return self._answer_confirm(command)
        if state == S.LANGUAGE:
            return self.language_answered
        return False

    def _answer_category(self) -> bool:
        chosen = self._chosen()
        code = chosen[4:] if chosen and chosen.startswith("cat:") else None
        if code is None and self.message.text.strip():
            code = self._category_by_name(self.message.text)
        if code is None:
            if self.message.choice or texts.number_of(self.message.text) is not None:
                self.notes.append(texts.ask_category_again())
                self._try_failed(S.CATEGORY)
            elif self.data.get("description"):
                # A second text that names no category: the citizen is describing, not
                # choosing; after a few, a person takes over.
                self._try_failed(S.CATEGORY)
            return False
        if not Category.objects.filter(code=code, active=True).exists():
            return False
        self.data["category"] = code
        self.data["answers"] = {}
        self.data.pop("question", None)
        self.data.pop("me_too", None)
        return True

    def _category_by_name(self, text: str) -> str | None:
        """A category named in the text (any of its names or keywords), when exactly one
        fits well."""
        folded = fold(text)
        if len(folded) < 3:
            return None
        names: list[str] = []
        owners: list[str] = []
        for category in Category.objects.filter(active=True):
            words = [category.name_en, category.name_ar, category.name_fa, category.code,
                     *[k for k in category.keywords.split(",") if k.strip()]]
            for word in {fold(w) for w in words if w}:
                names.append(word)
                owners.append(category.code)
        found = {owners[i] for _n, score, i in process.extract(
            folded, names, scorer=fuzz.WRatio, limit=5, score_cutoff=88) if score >= 88}
        return found.pop() if len(found) == 1 else None

    def _question_current(self) -> CategoryAttribute | None:
        code = self.data.get("question")
        if not code or not self.data.get("category"):
            return None
        return CategoryAttribute.objects.filter(category__code=self.data["category"],
                                                code=code).first()

    def _answer_question(self) -> bool:
        from incidents.services.intake import attributes_clean

        attribute = self._question_current()
        if attribute is None:
            return False
        kind = attribute.datatype
        text = self.message.text.strip()
        chosen = self._chosen()
        if kind == CategoryAttribute.Datatype.SINGLE:
            value = chosen[4:] if chosen and chosen.startswith("ans:") else None
            if value is None:
                folded = fold(text)
                value = next((v["key"] for v in attribute.values
                              if folded in {fold(str(v.get(f"name_{lang}", ""))) for lang in
                                            texts.LANGUAGES} | {fold(str(v["key"]))}), None)
        elif kind == CategoryAttribute.Datatype.MULTI:
            keys = attribute.value_keys()
            picked = [keys[n - 1] for n in texts.numbers_of(text) if 1 <= n <= len(keys)]
            value = picked or None
        elif kind == CategoryAttribute.Datatype.NUMBER:
            value = fold(text).replace(",", ".") or None
        else:
            value = text or None
        if value is None:
            self.notes.append(texts.ask_number())
            self._try_failed(S.QUESTION)
            return bool(text)
        errors: dict = {}
        clean = attributes_clean(Category.objects.get(code=self.data["category"]),
                                 {attribute.code: value}, errors, require=False)
        if errors:
            message = next(iter(errors.values()))[0]
            self.notes.append(texts.answer_invalid(message))
            self._try_failed(S.QUESTION)
            return True
        self.data.setdefault("answers", {})[attribute.code] = clean[attribute.code]
        self.data.pop("question", None)
        return True

    def _answer_location(self, command: str | None) -> bool:
        chosen = self._chosen()
        places = self.data.get("places") or []
        if chosen and chosen.startswith("place:"):
            self.data.pop("places", None)
            index = chosen[6:]
            if index.isdigit() and int(index) < len(places):
                place = places[int(index)]
                self._place_set(place["lon"], place["lat"], place["name"])
            return True
        if command == "skip":
            self.data["location_skipped"] = True
            return True
        text = self.message.text.strip()
        if self.message.kind != "text" or not text:
            return False
        point = coordinates_parse(text)
        if point is not None:
            self._place_set(point[0], point[1], "")
            return True
        found = [p for p in places_find(text, limit=8, language=self.language) if place_point(
            Point(p.lon, p.lat, srid=4326)) is not None][:5]
        if not found:
            self.notes.append(texts.place_not_found(text))
            self._try_failed(S.LOCATION)
            return True
        self.data["places"] = [{"name": self._place_label(p.name, p.lon, p.lat),
                                "lon": p.lon, "lat": p.lat} for p in found]
        return True

    @staticmethod
    def _place_label(name: str, lon: float, lat: float) -> str:
        district = District.objects.filter(boundary__intersects=Point(lon, lat, srid=4326)
                                           ).first()
        return f"{name} ({district.name_in()})" if district and district.name_in() not in name \
            else name

    def _place_set(self, lon: float, lat: float, address: str) -> bool:
        point = Point(float(lon), float(lat), srid=4326)
        if place_point(point) is None:
            nearest = ServiceArea.objects.order_by(GeometryDistance("boundary", point)).first()
            self.notes.append(texts.outside_area(nearest.name_in() if nearest else
                                                 texts.city_name()))
            self._try_failed(S.LOCATION)
            return False
        if not address:
            # A pin says nothing in words: the nearest street does, for the citizen's check
            # and the dispatcher's list.
            street = street_near(float(lon), float(lat), language=self.language)
            address = texts.near_street(street) if street else ""
        self.data.update({"lon": float(lon), "lat": float(lat), "address": address[:300]})
        self.data.pop("location_skipped", None)
        self.data.pop("places", None)
        self.data.pop("me_too", None)
        return True

    def _answer_me_too(self, command: str | None) -> bool:
        chosen = self._chosen()
        if chosen == "metoo:yes" or command == "yes":
            self.data["me_too"] = "join"
            return True
        if chosen == "metoo:no" or command == "no":
            self.data["me_too"] = "new"
            return True
        return False

    def _answer_confirm(self, command: str | None) -> bool:
        chosen = self._chosen()
        if chosen == "confirm:yes" or command == "yes":
            self.data["confirmed"] = True
            return True
        if chosen == "confirm:no" or command == "no":
            keep = {k: self.data[k] for k in ("tries",) if k in self.data}
            self.data.clear()
            self.data.update(keep, greeted=True)
            self.notes.append(texts.starting_over())
            return True
        return False

    # -- what next -------------------------------------------------------------------------

    def _advance(self) -> None:
        data = self.data
        if not self.conversation.language:
            self._state(S.LANGUAGE)
            self._ask(texts.ask_language(), [{"id": f"lang:{code}", "title": name}
                                             for code, name in texts.LANGUAGE_NAMES.items()])
            return
        if not data.get("greeted"):
            data["greeted"] = True
            self.notes.insert(0, texts.greeting())
        if (data.get("tries") or {}).get(S.CATEGORY, 0) >= MAX_TRIES and not data.get("category"):
            self._hand_over(InboxItem.Reason.NO_CATEGORY, texts.handed_no_category())
            return
        category = (Category.objects.prefetch_related("attributes")
                    .filter(code=data.get("category") or "", active=True).first())
        if category is None:  # none chosen yet, or the city retired it meanwhile
            data.pop("category", None)
            self._state(S.CATEGORY)
            note = storm_note(self.language)
            if note and not data.get("storm_noted"):
                data["storm_noted"] = True
                self.notes.append(note)
            self._ask(texts.ask_category(), category_options(self.language))
            return
        question = self._next_question(category)
        if question is not None:
            if (data.get("tries") or {}).get(S.QUESTION, 0) >= MAX_TRIES:
                self._hand_over(InboxItem.Reason.NO_CATEGORY, texts.handed_no_category())
                return
            data["question"] = question.code
            self._state(S.QUESTION)
            options = []
            if question.datatype in (CategoryAttribute.Datatype.SINGLE,
                                     CategoryAttribute.Datatype.MULTI):
                options = [{"id": f"ans:{v['key']}",
                            "title": str(v.get(f"name_{self.language}") or v.get("name_en")
                                         or v["key"])} for v in question.values]
            if question.datatype == CategoryAttribute.Datatype.MULTI:
                # Several numbers in one reply: offered as numbered lines, not buttons.
                text = texts.ask_question(question.description_in(self.language),
                                          question.datatype)
                lines = [f"{i}. {o['title']}" for i, o in enumerate(options, start=1)]
                self._offer([])
                self._ask("\n".join([text, *lines]))
                return
            self._ask(texts.ask_question(question.description_in(self.language),
                                         question.datatype), options)
            return
        if data.get("lon") is None:
            if data.get("location_skipped") or \
                    (data.get("tries") or {}).get(S.LOCATION, 0) >= MAX_TRIES + 1:
                self._hand_over(InboxItem.Reason.NO_LOCATION, texts.handed_no_location())
                return
            if self._location_from_photo():
                self.notes.append(texts.used_photo_location())
            else:
                self._state(S.LOCATION)
                places = data.get("places") or []
                if places:
                    options = [{"id": f"place:{i}", "title": p["name"]}
                               for i, p in enumerate(places)]
                    options.append({"id": "place:none", "title": texts.none_of_these()})
                    self._ask(texts.ask_place(), options)
                else:
                    can_share = self.provider.shares_location
                    options = ([{"id": LOCATION_OPTION, "title": texts.share_location_button()}]
                               if can_share else [])
                    self._ask(texts.ask_location(can_share=can_share), options)
                return
        if data.get("me_too") is None:
            incident = self._incident_nearby(category)
            if incident is not None:
                data["me_too_incident"] = incident.pk
                self._state(S.ME_TOO)
                self._ask(texts.ask_me_too(incident.report_count,
                                           str(Status(incident.status).label)),
                          [{"id": "metoo:yes", "title": texts.me_too_yes()},
                           {"id": "metoo:no", "title": texts.me_too_no()}])
                return
            data["me_too"] = "new"
        if data["me_too"] == "join":
            self._file(category, join_id=data.get("me_too_incident"))
            return
        if not data.get("photos") and not data.get("photo_done"):
            self._state(S.PHOTO)
            self._ask(texts.ask_photo(), [{"id": "photo:skip", "title": texts.no_photo()}])
            return
        if not data.get("confirmed"):
            self._state(S.CONFIRM)
            self._ask(texts.ask_confirm(self._summary(category)),
                      [{"id": "confirm:yes", "title": texts.confirm_yes()},
                       {"id": "confirm:no", "title": texts.confirm_no()}])
            return
        self._file(category)

    def _next_question(self, category: Category) -> CategoryAttribute | None:
        answers = self.data.get("answers") or {}
        return next((q for q in _required_questions(category) if q.code not in answers), None)

    def _location_from_photo(self) -> bool:
        ids = self.data.get("photos") or []
        for photo in InboundMedia.objects.filter(pk__in=ids, gps_lon__isnull=False):
            point = Point(photo.gps_lon, photo.gps_lat, srid=4326)
            if place_point(point) is not None:
                return self._place_set(photo.gps_lon, photo.gps_lat, "")
        return False

    def _incident_nearby(self, category: Category) -> Incident | None:
        from incidents.services.intake import incident_find_to_join

        incident_id = incident_find_to_join(
            category=category, point=Point(self.data["lon"], self.data["lat"], srid=4326),
            now=self.now)
        return Incident.objects.filter(pk=incident_id).first() if incident_id else None

    def _summary(self, category: Category) -> str:
        data = self.data
        lines = [texts.summary_line(texts.label_category(), category.name_in(self.language))]
        for question in category.attributes.all():
            answer = (data.get("answers") or {}).get(question.code)
            if answer in (None, "", []):
                continue
            names = {str(v["key"]): str(v.get(f"name_{self.language}") or v.get("name_en")
                                        or v["key"]) for v in question.values}
            shown = ", ".join(names.get(str(a), str(a)) for a in
                              (answer if isinstance(answer, list) else [answer]))
            lines.append(texts.summary_line(question.description_in(self.language), shown))
        place = data.get("address") or f"{data['lat']:.5f}, {data['lon']:.5f}"
        lines.append(texts.summary_line(texts.label_place(), place))
        if data.get("photos"):
            lines.append(texts.summary_line(texts.label_photos(), str(len(data["photos"]))))
        if data.get("description"):
            description = data["description"]
            lines.append(texts.summary_line(texts.label_description(),
                                            description[:200] + ("…" if len(description) > 200
                                                                 else "")))
        return "\n".join(lines)

    # -- endings ---------------------------------------------------------------------------

    def _file(self, category: Category, join_id: int | None = None) -> None:
        from incidents.services.intake import MAX_DESCRIPTION, ReportInput, report_submit

        data, contact = self.data, self.contact
        photos = [(f"photo-{photo.pk}.jpg", media_content(photo)) for photo in
                  InboundMedia.objects.filter(pk__in=data.get("photos") or [],
                                              state=InboundMedia.State.READY).order_by("pk")]
        description = data.get("description", "")
        if len(description) > MAX_DESCRIPTION:
            self.notes.append(texts.too_long(MAX_DESCRIPTION))
            description = description[:MAX_DESCRIPTION]
        join = Incident.objects.filter(pk=join_id).first() if join_id else None
        report_input = ReportInput(
            category_code=category.code, lon=data["lon"], lat=data["lat"],
            address=data.get("address", ""), description=description,
            attributes=data.get("answers") or {}, channel=self.provider.channel,
            language=self.language, reporter_name=contact.display_name[:200],
            reporter_phone=_valid_phone(contact.phone),
            reporter_email=contact.external_id if contact.provider == "email" else "",
            photos=photos)
        try:
            result = report_submit(data=report_input, join=join,
                                   idempotency_key=f"conversation-{self.conversation.pk}")
        except Conflict:
            # The incident closed meanwhile: a report of its own.
            data["me_too"] = "new"
            result = report_submit(data=report_input,
                                   idempotency_key=f"conversation-{self.conversation.pk}-new")
        except OutsideServiceArea as exc:
            data.pop("lon", None)
            data.pop("lat", None)
            self.notes.append(exc.message)
            self._advance()
            return
        except IntakePaused as exc:
            # Storm mode paused this category meanwhile: say why, ask the category again.
            data.pop("category", None)
            data.pop("answers", None)
            self.notes.append(exc.message)
            self._advance()
            return
        except (ValidationFailed, DomainError) as exc:
            logger.warning("conversation %s not filed: %s", self.conversation.pk, exc)
            self._hand_over(InboxItem.Reason.NO_CATEGORY, texts.handed_no_category())
            return
        report = result.report
        Report.objects.filter(pk=report.pk).update(contact=contact)
        self.conversation.report_id = report.pk
        self._state(S.FILED)
        self.conversation.closed_at = self.now
        InboundMessage.objects.filter(conversation=self.conversation).update(report=report)
        self.message.report_id = report.pk
        self._say(texts.joined(report.tracking_code) if join is not None and
                  data.get("me_too") == "join" else texts.filed(report.tracking_code))

    def _hand_over(self, reason: str, text: str) -> None:
        """The verification team takes the conversation over, with all it gathered."""
        from incidents.channels.process import inbox_add

        data = self.data
        category = Category.objects.filter(code=data.get("category") or "").first()
        inbox_add(contact=self.contact, reason=reason, conversation=self.conversation,
                  messages=[self.message], text=data.get("description", ""),
                  category=category, lon=data.get("lon"), lat=data.get("lat"),
                  address=data.get("address", ""), language=self.language)
        self._state(S.INBOX)
        self.conversation.closed_at = self.now
        self._say(text)


def media_content(media: InboundMedia) -> bytes:
    with media.file.open("rb") as handle:
        return handle.read()


def _valid_phone(phone: str) -> str:
    from incidents.services.intake import phone_normalize

    if not phone:
        return ""
    try:
        return phone_normalize(phone)
    except ValueError:
        return ""


def conversation_idle_limit() -> timedelta:
    return timedelta(minutes=settings.RASAD_CONVERSATION_IDLE_MINUTES)
