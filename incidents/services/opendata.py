"""Staff choose whether an incident's description goes into the open data."""

from django.db import transaction
from django.utils.translation import gettext as _

from incidents.models import Incident
from incidents.services.workflow import incident_note_add


@transaction.atomic
def incident_description_publish(*, incident: Incident, publish: bool, by) -> Incident:
    """Publish the incident's description in the open data, or withdraw it, recorded as an
    internal note (who and when). Locks the incident row; asking for what is already so
    changes and records nothing."""
    current = Incident.objects.select_for_update(of=("self",)).get(pk=incident.pk)
    if current.publish_description == publish:
        return current
    current.publish_description = publish
    current.save(update_fields=["publish_description", "updated_at"])
    incident_note_add(incident=current, by=by, public=False,
                      note=_("Description published in the open data.") if publish
                      else _("Description withdrawn from the open data."))
    current.refresh_from_db(fields=["version", "updated_at"])
    return current
