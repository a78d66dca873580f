"""GPS pings from crew phones: batches with device timestamps, duplicates and late arrivals
handled, the last known position kept, old positions purged."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crews.exceptions import ValidationFailed
from crews.models import Crew, CrewPosition

MAX_BATCH = 1000
# A phone whose clock runs ahead must not pin the "last position" in the future.
MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Ping:
    lon: float
    lat: float
    recorded_at: datetime
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None


@dataclass(frozen=True)
class PingResult:
    received: int
    stored: int
    last_position_at: datetime | None


def positions_record(*, crew: Crew, pings: list[Ping]) -> PingResult:
    """Store a batch idempotently (the device timestamp is the key) and move the crew's last
    position forward only: a late batch of older pings never moves it back."""
    if len(pings) > MAX_BATCH:
        raise ValidationFailed({"positions": [_("Send at most %(n)s positions at once.")
                                              % {"n": MAX_BATCH}]})
    now = timezone.now()
    for i, ping in enumerate(pings):
        if not (-180 <= ping.lon <= 180 and -90 <= ping.lat <= 90):
            raise ValidationFailed({f"positions[{i}]": [_("Coordinates out of range.")]})
        if ping.recorded_at > now + MAX_CLOCK_SKEW:
            raise ValidationFailed({f"positions[{i}].recorded_at": [
                _("This time is in the future; check the phone's clock.")]})
    rows = [CrewPosition(crew=crew, location=Point(p.lon, p.lat, srid=4326),
                         recorded_at=p.recorded_at, accuracy_m=p.accuracy_m,
                         speed_mps=p.speed_mps, heading_deg=p.heading_deg) for p in pings]
    with transaction.atomic():
        times = [p.recorded_at for p in pings]
        before = CrewPosition.objects.filter(crew=crew, recorded_at__in=times).count()
        CrewPosition.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        after = CrewPosition.objects.filter(crew=crew, recorded_at__in=times).count()
        locked = Crew.objects.select_for_update().get(pk=crew.pk)
        newest = max(pings, key=lambda p: p.recorded_at, default=None)
        if newest is not None and (locked.last_position_at is None
                                   or newest.recorded_at > locked.last_position_at):
            locked.last_position = Point(newest.lon, newest.lat, srid=4326)
            locked.last_position_at = newest.recorded_at
            locked.save(update_fields=["last_position", "last_position_at", "updated_at"])
    if newest is not None:
        from incidents.events import event_publish_on_commit

        event_publish_on_commit(kind="crew.position", crew_id=crew.pk,
                                lon=locked.last_position.x if locked.last_position else None,
                                lat=locked.last_position.y if locked.last_position else None,
                                at=locked.last_position_at.isoformat()
                                if locked.last_position_at else None)
    return PingResult(received=len(pings), stored=after - before,
                      last_position_at=locked.last_position_at)


def positions_purge(*, older_than: timedelta) -> int:
    cutoff = timezone.now() - older_than
    deleted, _ = CrewPosition.objects.filter(recorded_at__lt=cutoff).delete()
    return deleted


def crew_trail(*, crew: Crew, since: datetime) -> list[CrewPosition]:
    return list(CrewPosition.objects.filter(crew=crew, recorded_at__gte=since)
                .order_by("recorded_at")[:5000])


def crew_last_ping_at(crew: Crew) -> datetime | None:
    return CrewPosition.objects.filter(crew=crew).aggregate(last=Max("recorded_at"))["last"]
