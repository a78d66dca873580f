from django.urls import path

from incidents.channels.webhooks import channel_webhook

urlpatterns = [
    path("channels/<slug:provider>/webhook", channel_webhook, name="channel-webhook"),
    path("channels/<slug:provider>/webhook/<str:path_secret>", channel_webhook,
         name="channel-webhook-secret"),
]
