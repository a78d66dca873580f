"""The satisfaction survey. Some hours after an incident is resolved, each reporter who can be
reached is asked on their own channel, in their report's language: is it fixed (no reopens
the report within the reopen window), how satisfied are they (1 to 5), and anything to add.
Reminded once when unanswered; closed after some days. Weeks later, reports still resolved
and never confirmed are asked again (round 2, FixMyStreet's questionnaire). Answered by
reply (buttons, numbers, words) or through a tokenised link that needs no account.

Its messages go through the outbox as status messages do. Answers are kept on the Survey;
`answered_at`, which the figures count (incidents.stats), is set when the reporter says it
is not fixed, when the rating step ends (rated, or skipped and the comment step ended), when
the web page is sent, or at expiry when "fixed" was said and nothing more."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.channels import texts
from incidents.channels.dialogue import Reply
from incidents.exceptions import Conflict, Expired, NotFound, ValidationFailed
from incidents.models import (
    ChannelContact,
    InboundMessage,
    Incident,
    Notification,
    Report,
    Status,
    Survey,
)
from incidents.services.notify import _contacts_for, task_enqueue

logger = logging.getLogger(__name__)

State, Step = Survey.State, Survey.Step
# Button and list ids: "survey:<token>:fixed", ":broken", ":rate:4", ":skip".
SURVEY_CHOICE = "survey:"
COMMENT_MAX = 2000
RATINGS = (1, 2, 3, 4, 5)
# A survey asks from when it is sent until it is answered or expires.
ASKING = (State.SENT, State.REMINDED)


@dataclass(frozen=True)
class SurveyAnswer:
    survey: Survey
    # What the answer did: confirmed (the incident is closed), reopened, too_late (outside
    # the reopen window: report it again), open (already reopened), recorded (nothing else).
    outcome: str


def _delay() -> timedelta:
    return timedelta(hours=float(settings.RASAD_SURVEY_DELAY_HOURS))


def _open_for() -> timedelta:
    return timedelta(days=float(settings.RASAD_SURVEY_EXPIRES_DAYS))


def _reply_window() -> timedelta:
    return timedelta(hours=settings.RASAD_CHANNEL_REPLY_HOURS)


def survey_url(survey: Survey) -> str:
    return f"{settings.RASAD_PUBLIC_URL}/survey/{survey.token}/"


# -- What the survey says (in the language the caller activates) ----------------------------

def rating_label(rating: int) -> str:
    return {1: _("Very dissatisfied"), 2: _("Dissatisfied"), 3: _("Neutral"),
            4: _("Satisfied"), 5: _("Very satisfied")}[rating]


def question_fixed(survey: Survey) -> str:
    report = survey.report
    values = {"code": report.tracking_code, "category": report.category.name_in()}
    if survey.round > 1:
        return _("Some weeks ago the city marked your report %(code)s (%(category)s) as "
                 "fixed, and nobody has confirmed it since. Has it been fixed?") % values
    return _("The city marked your report %(code)s (%(category)s) as fixed. Is the problem "
             "really fixed?") % values


def question_rating() -> str:
    return _("How satisfied are you with how the city handled your report? Choose from 1 "
             "(very dissatisfied) to 5 (very satisfied).")


def question_comment() -> str:
    return _("Would you like to tell us anything else? Send a comment, or SKIP.")


def thanks() -> str:
    return _("Thank you for your answers. They help the city do better.")


def outcome_message(outcome: str, code: str) -> str:
    """What the reporter is told once the survey is answered."""
    if outcome == "reopened":
        return _("Thank you for telling us. We have reopened your report %(code)s and told "
                 "the team.") % {"code": code}
    if outcome == "too_late":
        return _("Thank you for telling us. It is more than %(days)s days since it was marked "
                 "as fixed, so it cannot be reopened: please report the problem again.") % {
            "days": settings.RASAD_REOPEN_DAYS}
    if outcome == "open":
        return _("Thank you for telling us. Your report %(code)s is open again and the team "
                 "is on it.") % {"code": code}
    if outcome == "confirmed":
        return _("Thank you! We are glad it is fixed.")
    return thanks()


def _options_fixed(survey: Survey) -> list[dict]:
    return [{"id": f"{SURVEY_CHOICE}{survey.token}:fixed", "title": _("Yes, it is fixed")},
            {"id": f"{SURVEY_CHOICE}{survey.token}:broken", "title": _("No, still broken")}]


def _options_rating(survey: Survey) -> list[dict]:
    return [{"id": f"{SURVEY_CHOICE}{survey.token}:rate:{n}", "title": rating_label(n)}
            for n in RATINGS]


def _options_comment(survey: Survey) -> list[dict]:
    return [{"id": f"{SURVEY_CHOICE}{survey.token}:skip", "title": _("No comment")}]


def _reopen_reason(via: str, comment: str) -> str:
    if comment:
        return _("Not fixed, says the reporter in the satisfaction survey (%(via)s): "
                 "%(comment)s") % {"via": via, "comment": comment}
    return _("Not fixed, says the reporter in the satisfaction survey (%(via)s).") % {
        "via": via}


# -- Scheduling ------------------------------------------------------------------------------

def _reachable(contact: ChannelContact | None) -> bool:
    return contact is not None and contact.opted_out_at is None and not contact.blocked


def _with_contact(reports: QuerySet[Report]) -> QuerySet[Report]:
    return reports.filter(~Q(reporter_email="") | ~Q(reporter_phone="") |
                          Q(contact__isnull=False))


def surveys_schedule(*, incident: Incident, now: datetime | None = None) -> int:
    """Round 1 for each report of a just-resolved incident whose reporter can be reached
    (notify's contacts: opted-out and blocked ones are skipped), due RASAD_SURVEY_DELAY_HOURS
    later. Called in the transition's transaction, under the incident's lock. Idempotent:
    one survey per report and round; a round 1 a reopening cancelled before it was sent is
    scheduled again, one already sent is not."""
    now = now or timezone.now()
    reports = list(_with_contact(Report.objects.filter(incident=incident))
                   .select_related("category").order_by("created_at", "pk"))
    contacts = _contacts_for(reports)
    # One survey per reporter: a citizen who reported it twice is asked once, about the first.
    first_of: dict[int, Report] = {}
    for report in reports:
        contact = contacts.get(report.pk)
        if _reachable(contact):
            first_of.setdefault(contact.pk, report)
    chosen = [(report, contacts[report.pk]) for report in first_of.values()]
    if not chosen:
        return 0
    due = now + _delay()
    Survey.objects.bulk_create(
        [Survey(report=report, contact=contact, round=1, due_at=due, expires_at=due + _open_for())
         for report, contact in chosen], ignore_conflicts=True)
    report_ids = [report.pk for report, _contact in chosen]
    Survey.objects.filter(report_id__in=report_ids, round=1, state=State.CANCELLED).update(
        state=State.SCHEDULED, due_at=due, expires_at=due + _open_for(), step=Step.FIXED)
    return Survey.objects.filter(report_id__in=report_ids, round=1,
                                 state=State.SCHEDULED).count()


def surveys_cancel_unsent(*, incident: Incident) -> int:
    """The incident was reopened: the surveys not sent yet are not sent."""
    return Survey.objects.filter(report__incident=incident, state=State.SCHEDULED).update(
        state=State.CANCELLED)


def surveys_followup_schedule(*, now: datetime | None = None, limit: int = 500) -> int:
    """Round 2 (FixMyStreet's questionnaire): reports whose incident is still resolved, not
    closed (so nobody confirmed the fix), RASAD_SURVEY_FOLLOWUP_WEEKS after it was resolved.
    Only incidents resolved within RASAD_SURVEY_EXPIRES_DAYS before that moment, so that
    old ones are not all asked at once when this is switched on. Reporters who cannot be
    reached get a cancelled round 2, which keeps them out of the next runs. Bounded."""
    now = now or timezone.now()
    since = now - timedelta(weeks=float(settings.RASAD_SURVEY_FOLLOWUP_WEEKS))
    reports = list(_with_contact(Report.objects.filter(
        incident__status=Status.RESOLVED, incident__resolved_at__lte=since,
        incident__resolved_at__gt=since - _open_for()))
        .exclude(surveys__round=2).select_related("category").order_by("pk")[:limit])
    if not reports:
        return 0
    contacts = _contacts_for(reports)
    # One survey per reporter and incident, across runs too.
    asked = set(Survey.objects.filter(round=2, report__incident_id__in={r.incident_id
                                                                        for r in reports})
                .values_list("report__incident_id", "contact_id"))
    rows = []
    for report in reports:
        contact = contacts.get(report.pk)
        wanted = _reachable(contact) and (report.incident_id, contact.pk) not in asked
        if wanted:
            asked.add((report.incident_id, contact.pk))
        rows.append(Survey(report=report, contact=contact, round=2, due_at=now,
                           expires_at=now + _open_for(),
                           state=State.SCHEDULED if wanted else State.CANCELLED))
    Survey.objects.bulk_create(rows, ignore_conflicts=True)
    return sum(row.state == State.SCHEDULED for row in rows)


# -- Sending ---------------------------------------------------------------------------------

def _locked(surveys: QuerySet[Survey], *, skip_locked: bool = False) -> Survey | None:
    # of=self: the report, incident and contact rows are not locked with it.
    return (surveys.select_for_update(of=("self",), skip_locked=skip_locked)
            .select_related("report__incident", "report__category", "contact").first())


def _wanted(survey: Survey) -> bool:
    """Still worth asking: the incident is as the round asks about, the reporter reachable."""
    statuses = (Status.RESOLVED,) if survey.round > 1 else (Status.RESOLVED, Status.CLOSED)
    return survey.report.incident.status in statuses and _reachable(survey.contact)


def _queue(survey: Survey, *, key: str, reminder: bool) -> Notification:
    """The survey's question in the outbox, once per `key`; sent after the commit. Outside
    WhatsApp's 24-hour window it goes as the survey template, with the tracking code."""
    from incidents.tasks import notification_send_task

    report, contact = survey.report, survey.contact
    language = report.language or "en"
    with translation.override(language):
        question = question_fixed(survey)
        if reminder:
            question = _("Reminder: %(question)s") % {"question": question}
        body = "\n".join([question, _("You can also answer on this page: %(url)s")
                          % {"url": survey_url(survey)}])
        subject = _("Is it fixed? Your report %(code)s") % {"code": report.tracking_code}
        options = _options_fixed(survey)
    notification, created = Notification.objects.get_or_create(
        dedupe_key=f"survey:{survey.pk}:{key}",
        defaults={"report": report, "contact": contact, "kind": Notification.Kind.SURVEY,
                  "channel": contact.provider, "recipient": contact.external_id,
                  "language": language, "subject": subject[:300], "body": body,
                  "options": options, "template_params": [report.tracking_code],
                  "next_attempt_at": timezone.now()})
    if created:
        transaction.on_commit(lambda: task_enqueue(notification_send_task,
                                                   notification_id=notification.pk))
    return notification


def surveys_send_due(*, limit: int = 200) -> int:
    """Send the surveys whose time has come; bounded. Returns how many were sent."""
    ids = list(Survey.objects.filter(state=State.SCHEDULED, due_at__lte=timezone.now())
               .order_by("due_at").values_list("pk", flat=True)[:limit])
    return sum(survey_send(survey_id=survey_id) is not None for survey_id in ids)


@transaction.atomic
def survey_send(*, survey_id: int) -> Notification | None:
    """One due survey to the outbox. Locks the survey (a second worker skips it); one no
    longer wanted (reopened, confirmed before round 2, the reporter unsubscribed) is
    cancelled instead. It stays open RASAD_SURVEY_EXPIRES_DAYS from now."""
    survey = _locked(Survey.objects.filter(pk=survey_id, state=State.SCHEDULED),
                     skip_locked=True)
    if survey is None:
        return None
    if not _wanted(survey):
        survey.state = State.CANCELLED
        survey.save(update_fields=["state"])
        return None
    now = timezone.now()
    notification = _queue(survey, key="ask", reminder=False)
    survey.state, survey.step, survey.sent_at, survey.asked_at = (State.SENT, Step.FIXED, now,
                                                                  now)
    survey.expires_at = now + _open_for()
    survey.save(update_fields=["state", "step", "sent_at", "asked_at", "expires_at"])
    return notification


def _wanted_filter() -> Q:
    return ((Q(round=1, report__incident__status__in=(Status.RESOLVED, Status.CLOSED)) |
             Q(round__gt=1, report__incident__status=Status.RESOLVED)) &
            Q(contact__opted_out_at__isnull=True, contact__blocked=False))


def surveys_remind_due(*, limit: int = 200) -> int:
    """Remind, once, the reporters who have not answered RASAD_SURVEY_REMINDER_HOURS after
    the survey was sent (and said nothing at all: a "fixed" with no rating is an answer).
    Surveys no longer wanted get no reminder; they expire."""
    now = timezone.now()
    cutoff = now - timedelta(hours=float(settings.RASAD_SURVEY_REMINDER_HOURS))
    ids = list(Survey.objects.filter(_wanted_filter(), state=State.SENT, step=Step.FIXED,
                                     sent_at__lte=cutoff, expires_at__gt=now)
               .order_by("sent_at").values_list("pk", flat=True)[:limit])
    return sum(survey_remind(survey_id=survey_id) is not None for survey_id in ids)


@transaction.atomic
def survey_remind(*, survey_id: int) -> Notification | None:
    survey = _locked(Survey.objects.filter(pk=survey_id, state=State.SENT, step=Step.FIXED),
                     skip_locked=True)
    if survey is None or not _wanted(survey):
        return None
    now = timezone.now()
    notification = _queue(survey, key="remind", reminder=True)
    survey.state, survey.reminded_at, survey.asked_at = State.REMINDED, now, now
    survey.save(update_fields=["state", "reminded_at", "asked_at"])
    return notification


@transaction.atomic
def surveys_expire(*, limit: int = 1000) -> dict[str, int]:
    """Close what has been open RASAD_SURVEY_EXPIRES_DAYS: unanswered surveys expire; one
    that got its "fixed" and nothing more counts as answered now. Rating and comment
    questions left unanswered past the reply window stop being asked. Bounded."""
    now = timezone.now()
    ids = list(Survey.objects.filter(state__in=(State.SCHEDULED, *ASKING), expires_at__lte=now)
               .values_list("pk", flat=True)[:limit])
    partial = Survey.objects.filter(pk__in=ids, state__in=ASKING, fixed__isnull=False).update(
        state=State.ANSWERED, answered_at=now, step=Step.DONE)
    expired = Survey.objects.filter(pk__in=ids, state__in=(State.SCHEDULED, *ASKING)).update(
        state=State.EXPIRED, step=Step.DONE)
    stale = list(Survey.objects.filter(state=State.ANSWERED, asked_at__lt=now - _reply_window())
                 .exclude(step=Step.DONE).values_list("pk", flat=True)[:limit])
    Survey.objects.filter(pk__in=stale, state=State.ANSWERED).exclude(step=Step.DONE).update(
        step=Step.DONE)
    return {"expired": expired, "answered": partial}


# -- Answers ---------------------------------------------------------------------------------

def _confirm(survey: Survey) -> str:
    from incidents.services.feedback import report_confirm_fix

    if survey.report.incident.status != Status.RESOLVED:
        return "recorded"
    try:
        report_confirm_fix(report=survey.report)
    except Conflict:
        return "recorded"
    return "confirmed"


def _reopen(survey: Survey, *, reason: str) -> str:
    from incidents.services.feedback import report_reopen

    if survey.report.incident.status not in (Status.RESOLVED, Status.CLOSED):
        return "open"
    try:
        report_reopen(report=survey.report, reason=reason)
    except Conflict:  # outside the reopen window
        return "too_late"
    return "reopened"


def _answered(survey: Survey, now: datetime) -> None:
    if survey.answered_at is None:
        survey.answered_at, survey.state = now, State.ANSWERED


def survey_check_open(survey: Survey | None, *, now: datetime | None = None) -> Survey:
    """The survey its link opens, or the error its reader sees: 404 for a token never sent,
    409 once answered, 410 once closed."""
    now = now or timezone.now()
    if survey is None or survey.state in (State.SCHEDULED, State.CANCELLED):
        raise NotFound(_("There is no such survey. Check the link in the message we sent "
                         "you."))
    if survey.answered_at is not None or survey.state == State.ANSWERED:
        raise Conflict(_("You have already answered this survey. Thank you!"),
                       code="already_answered")
    if survey.state == State.EXPIRED or survey.expires_at <= now:
        raise Expired(_("This survey has closed. If the problem is still there, please "
                        "report it again."))
    return survey


def _rating_clean(rating) -> int | None:
    if rating in (None, ""):
        return None
    text = str(rating).strip()
    if isinstance(rating, bool) or not text.isdigit() or int(text) not in RATINGS:
        raise ValueError(text)
    return int(text)


def _token_valid(token: str) -> bool:
    try:
        uuid.UUID(str(token))
    except ValueError:
        return False
    return True


@transaction.atomic
def survey_answer(*, token: str, fixed: bool | None, rating=None, comment: str = "",
                  via: str = "") -> SurveyAnswer:
    """The answers of the survey's page (or the app): all at once, once. Locks the survey;
    refuses an unknown token (NotFound), a second answer (Conflict), a closed survey
    (Expired) and bad input (ValidationFailed, before anything is written). Not fixed
    reopens the report within the reopen window; fixed confirms a fix still unconfirmed."""
    survey = _locked(Survey.objects.filter(token=token)) if _token_valid(token) else None
    survey_check_open(survey)
    errors: dict[str, list[str]] = {}
    if fixed is None:
        errors["fixed"] = [_("Tell us whether the problem is fixed.")]
    try:
        rating = _rating_clean(rating)
    except ValueError:
        errors["rating"] = [_("Choose a rating from 1 to 5.")]
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        errors["comment"] = [_("Keep the comment under %(n)s characters.") % {"n": COMMENT_MAX}]
    if errors:
        raise ValidationFailed(errors)
    now = timezone.now()
    survey.fixed, survey.rating, survey.comment = fixed, rating, comment
    _answered(survey, now)
    survey.step = Step.DONE
    survey.save(update_fields=["fixed", "rating", "comment", "answered_at", "state", "step"])
    with translation.override(survey.report.language or "en"):
        outcome = (_confirm(survey) if fixed else
                   _reopen(survey, reason=_reopen_reason(via or _("web page"), comment[:900])))
    return SurveyAnswer(survey=survey, outcome=outcome)


# -- Answers on the channel ------------------------------------------------------------------

def _asking(contact: ChannelContact, message: InboundMessage, now: datetime) -> Survey | None:
    """The survey of the contact's that a typed reply answers: the one its message quotes,
    else the one that asked last. "Is it fixed?" is asked until the survey expires; the
    rating and the comment for RASAD_CHANNEL_REPLY_HOURS after they were asked."""
    recent = now - _reply_window()
    surveys = (Survey.objects.filter(contact=contact).exclude(step=Step.DONE)
               .filter(Q(state__in=ASKING, expires_at__gt=now) & (Q(step=Step.FIXED) |
                                                                  Q(asked_at__gte=recent)) |
                       Q(state=State.ANSWERED, asked_at__gte=recent)))
    if message.reply_to:
        quoted = (Notification.objects.filter(contact=contact, kind=Notification.Kind.SURVEY,
                                              provider_message_id=message.reply_to)
                  .values_list("report_id", flat=True).first())
        if quoted is not None and surveys.filter(report_id=quoted).exists():
            surveys = surveys.filter(report_id=quoted)
    return _locked(surveys.order_by("-asked_at", "-pk"))


def _stars(text: str) -> int | None:
    stars = text.strip().replace(" ", "").replace("\ufe0f", "")  # ⭐️ is ⭐ and a selector
    if stars and set(stars) <= {"⭐", "★"}:
        return len(stars)
    return None


def _read(survey: Survey, message: InboundMessage, command: str | None) -> str | None:
    """What a typed reply says to the question asked: fixed, broken, rate:N, skip, comment,
    or None when it answers nothing (then it is not the survey's)."""
    text = message.text.strip()
    number = texts.number_of(text)
    if survey.step == Step.FIXED:
        if command in ("yes", "fixed") or number == 1:
            return "fixed"
        if command in ("no", "broken") or number == 2:
            return "broken"
        return None
    if survey.step == Step.RATING:
        rating = number if number is not None else _stars(text)
        if rating is not None:
            return f"rate:{rating}"
        if command in ("skip", "no"):
            return "skip"
        # A sentence in answer to "how satisfied?" says it in words: it is the comment.
        return "comment" if text else None
    if command in ("skip", "no") or number == 1:  # the comment's one option: No comment
        return "skip"
    return "comment" if text else None


def _closed_message(survey: Survey | None, now: datetime) -> str | None:
    """Why a survey's button no longer works, or None if it does."""
    if survey is None or survey.state in (State.SCHEDULED, State.CANCELLED, State.EXPIRED) or (
            survey.state in ASKING and survey.expires_at <= now):
        return _("This survey has closed. If the problem is still there, please report it "
                 "again.")
    if survey.step == Step.DONE:
        return _("You have already answered this survey. Thank you!")
    return None


def survey_reply(*, contact: ChannelContact, message: InboundMessage, via: str,
                 now: datetime) -> list[Reply] | None:
    """A contact's message read as an answer to its survey, in the worker's transaction
    (the contact's lock is held; the survey is locked too). Returns the answers to send,
    or None when the message answers no survey: the status reply and the dialogue take it.
    A survey's button always answers its own survey (or says why it cannot); a typed
    reply only the question asked."""
    if message.kind not in (InboundMessage.Kind.TEXT, InboundMessage.Kind.CHOICE):
        return None
    # The words themselves: an SMS carrier reads YES as its opt-in keyword, not as ours.
    command = texts.command_of(message.text)
    if command in ("new", "person"):
        return None
    if message.choice.startswith(SURVEY_CHOICE):
        token, _sep, action = message.choice[len(SURVEY_CHOICE):].partition(":")
        survey = (_locked(Survey.objects.filter(token=token, contact=contact))
                  if _token_valid(token) else None)
        language = survey.report.language if survey else contact.language
        with translation.override(language or "en"):
            closed = _closed_message(survey, now)
            if closed is not None:
                return [Reply(closed)]
            return _step(survey, action=action, text="", via=via, message=message, now=now)
    if message.kind != InboundMessage.Kind.TEXT:
        return None  # another message's button
    survey = _asking(contact, message, now)
    if survey is None:
        return None
    action = _read(survey, message, command)
    if action is None:
        return None
    with translation.override(survey.report.language or "en"):
        return _step(survey, action=action, text=message.text.strip(), via=via,
                     message=message, now=now)


def _ask_again(survey: Survey) -> list[Reply]:
    if survey.step == Step.RATING:
        return [Reply(question_rating(), _options_rating(survey))]
    if survey.step == Step.COMMENT:
        return [Reply(question_comment(), _options_comment(survey))]
    return [Reply(question_fixed(survey), _options_fixed(survey))]


def _step(survey: Survey, *, action: str, text: str, via: str, message: InboundMessage,
          now: datetime) -> list[Reply]:
    """Apply one answer to the question asked, and ask the next. A button of a question
    already answered gets the question asked now."""
    message.report = survey.report
    fields = ["fixed", "rating", "comment", "answered_at", "state", "step", "asked_at"]
    code = survey.report.tracking_code
    if action in ("fixed", "broken"):
        if survey.step != Step.FIXED:
            return _ask_again(survey)
        if action == "broken":
            survey.fixed, survey.step = False, Step.DONE
            _answered(survey, now)
            survey.save(update_fields=fields)
            outcome = _reopen(survey, reason=_reopen_reason(via, ""))
            answer = outcome_message(outcome, code)
            if outcome == "too_late":
                answer = " ".join([answer, _("To report it again, send NEW.")])
            return [Reply(answer)]
        survey.fixed, survey.step, survey.asked_at = True, Step.RATING, now
        survey.save(update_fields=fields)
        outcome = _confirm(survey)
        glad = outcome_message("confirmed", code) if outcome == "confirmed" else _("Thank you!")
        return [Reply("\n\n".join([glad, question_rating()]), _options_rating(survey))]
    if action.startswith("rate:"):
        rating = action[5:]
        if survey.step != Step.RATING or not rating.isdigit() or int(rating) not in RATINGS:
            return _ask_again(survey)
        survey.rating, survey.step, survey.asked_at = int(rating), Step.COMMENT, now
        _answered(survey, now)
        survey.save(update_fields=fields)
        return [Reply("\n\n".join([_("Thank you!"), question_comment()]),
                      _options_comment(survey))]
    if action == "skip" and survey.step == Step.RATING:
        survey.step, survey.asked_at = Step.COMMENT, now
        survey.save(update_fields=fields)
        return [Reply(question_comment(), _options_comment(survey))]
    if action in ("skip", "comment") and survey.step in (Step.RATING, Step.COMMENT):
        if action == "comment":
            survey.comment = text[:COMMENT_MAX]
        survey.step = Step.DONE
        _answered(survey, now)
        survey.save(update_fields=fields)
        return [Reply(thanks())]
    return _ask_again(survey)
