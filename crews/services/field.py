"""The crew phone: work a stop. Every call carries the phone's own id (replayed calls do
nothing twice and get the first answer again) and the incident version it saw (a stale call
is refused with the current state, never silently applied)."""

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from crews.exceptions import NotCrewMember
from crews.models import CrewAction, RouteStop
from crews.selectors import crew_for_user, stop_current_for_incident
from gis.geo import advisory_xact_lock, text_lock_key
from incidents.exceptions import Conflict, InvalidTransition, NotFound, ValidationFailed
from incidents.models import Incident, IncidentUpdate, Photo, Status
from incidents.photos import photo_clean
from incidents.services import incident_note_add, incident_transition

ACTIONS = {
    "en_route": Status.EN_ROUTE,
    "on_site": Status.ON_SITE,
    "resolved": Status.RESOLVED,
    "cannot_fix": Status.VERIFIED,
    "note": None,
}
STOP_STATE_AFTER = {
    "en_route": RouteStop.State.STARTED,
    "on_site": RouteStop.State.STARTED,
    "resolved": RouteStop.State.DONE,
    "cannot_fix": RouteStop.State.RETURNED,
}


@dataclass(frozen=True)
class ActionResult:
    status_code: int
    body: dict
    replayed: bool


def _incident_state(incident: Incident) -> dict:
    return {"id": incident.pk, "status": incident.status, "version": incident.version}


def stop_act(*, user, incident_id: int, action: str, client_id: str, version: int | None,
             note: str = "", photos: list[tuple[str, bytes, str]] | None = None) -> ActionResult:
    """Apply one phone action. Returns the HTTP status and body to send, and stores them
    under `client_id` in the same transaction as the change."""
    if action not in ACTIONS:
        raise ValidationFailed({"action": [_("Unknown action “%(a)s”; use one of: %(all)s.")
                                           % {"a": action, "all": ", ".join(ACTIONS)}]})
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 100:
        raise ValidationFailed({"client_id": [_("Every action needs a client_id (at most 100 "
                                                "characters) made on the phone.")]})
    crew = crew_for_user(user)
    if crew is None:
        raise NotCrewMember(_("You are not a member of an active crew."))
    cleaned = [(kind, photo_clean(content, name=name)) for name, content, kind in photos or []]
    with transaction.atomic():
        advisory_xact_lock([text_lock_key(f"crew-action:{client_id}")])
        done = CrewAction.objects.filter(client_id=client_id).first()
        if done is not None:
            if done.user_id != user.pk or done.incident_id != incident_id:
                raise Conflict(_("This client_id was already used for another action."))
            return ActionResult(done.response_status, done.response, replayed=True)
        stop = stop_current_for_incident(crew, incident_id)
        if stop is None:
            raise NotFound(_("Incident #%(id)s is not on your crew's route.") % {"id": incident_id})
        try:
            with transaction.atomic():
                body = _apply(stop=stop, user=user, action=action, version=version,
                              note=note, photos=cleaned)
                status_code = 200
        except (Conflict, InvalidTransition) as exc:
            current = Incident.objects.get(pk=incident_id)
            status_code = 409
            body = {"detail": exc.message, "code": exc.code, "incident": _incident_state(current)}
        CrewAction.objects.create(client_id=client_id, crew=crew, user=user,
                                  incident_id=incident_id, action=action,
                                  response_status=status_code, response=body)
    return ActionResult(status_code, body, replayed=False)


def _apply(*, stop: RouteStop, user, action: str, version: int | None, note: str,
           photos: list) -> dict:
    incident = stop.incident
    to = ACTIONS[action]
    if action == "note":
        update = incident_note_add(incident=incident, by=user, note=note, public=False)
    else:
        if action == "resolved" and incident.category.photo_required_to_resolve:
            has_after = any(kind == Photo.Kind.AFTER for kind, _clean in photos) or \
                Photo.objects.filter(update__incident=incident, kind=Photo.Kind.AFTER).exists()
            if not has_after:
                raise ValidationFailed({"photos": [_("A photo of the finished work is required "
                                                     "to resolve a %(category)s.")
                                                   % {"category": incident.category.name_in()}]})
        if action == "cannot_fix" and not note.strip():
            raise ValidationFailed({"note": [_("Say why it cannot be fixed, so dispatch can "
                                               "send the right crew.")]})
        incident_transition(incident=incident, to=to, by=user, note=note,
                            public=action != "cannot_fix", expected_version=version)
        update = IncidentUpdate.objects.filter(incident=incident).order_by("-pk").first()
        stop.state = STOP_STATE_AFTER[action]
        stop.save(update_fields=["state"])
    for kind, clean in photos:
        photo = Photo(update=update, kind=kind if kind in Photo.Kind.values else Photo.Kind.AFTER,
                      width=clean.width, height=clean.height, state=Photo.State.READY)
        photo.image.save("photo.jpg", ContentFile(clean.image), save=False)
        photo.thumbnail.save("thumb.jpg", ContentFile(clean.thumbnail), save=False)
        photo.save()
    incident.refresh_from_db()
    return {"incident": _incident_state(incident), "stop": {"id": stop.pk, "state": stop.state},
            "update_id": update.pk}
