"""Public storm alert feeds, under /alerts/."""

from django.urls import path

from crews.api import alerts

urlpatterns = [
    path("cap.xml", alerts.cap_latest, name="alerts-cap"),
    path("cap/<int:pk>.xml", alerts.cap_one, name="alerts-cap-one"),
    path("feed.atom", alerts.feed_atom, name="alerts-feed-atom"),
]
