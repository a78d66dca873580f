"""The verification inbox's API (console): messages a bot could not turn into a report, the
sender's history, and the agent's actions. Staff only; it shows citizens' contacts."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.channels import selectors
from incidents.channels.inbox import (
    contact_block,
    contact_unblock,
    inbox_item_close,
    inbox_item_file,
)
from incidents.exceptions import NotFound
from incidents.models import (
    OPEN_STATUSES,
    ChannelContact,
    InboundMedia,
    InboxItem,
    Provider,
    Report,
)
from ops.roles import Role, user_has_role


class CanReadInbox(BasePermission):
    message = gettext_lazy("Only intake agents, dispatchers and managers may see the inbox.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *Role.INBOX_READ)


class CanActOnInbox(BasePermission):
    message = gettext_lazy("Only intake agents and dispatchers may do this.")

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return user_has_role(request.user, *Role.INBOX_READ)
        return user_has_role(request.user, *Role.INBOX_ACT)


def _iso(value):
    return value.isoformat() if value else None


def contact_output(contact: ChannelContact) -> dict:
    return {"id": contact.pk, "provider": contact.provider,
            "provider_name": str(Provider(contact.provider).label),
            "external_id": contact.external_id, "display_name": contact.display_name,
            "phone": contact.phone, "language": contact.language, "blocked": contact.blocked,
            "blocked_reason": contact.blocked_reason,
            "opted_out": contact.opted_out_at is not None,
            "last_message_at": _iso(contact.last_inbound_at)}


def report_brief(report: Report) -> dict:
    return {"id": report.pk, "tracking_code": report.tracking_code,
            "category": report.category.code, "category_name": report.category.name_in(),
            "status": report.status, "status_name": str(report.get_status_display()),
            "channel": report.channel, "created_at": _iso(report.created_at),
            "address": report.address, "incident_id": report.incident_id,
            "incident_open": report.incident.status in OPEN_STATUSES,
            "lon": report.location.x, "lat": report.location.y}


def _item_output(item: InboxItem) -> dict:
    return {"id": item.pk, "state": item.state, "state_name": str(item.get_state_display()),
            "reason": item.reason, "reason_name": str(item.get_reason_display()),
            "language": item.language, "text": item.text,
            "category": item.category.code if item.category_id else None,
            "lon": item.lon, "lat": item.lat, "address": item.address,
            "contact": contact_output(item.contact),
            "report": ({"tracking_code": item.report.tracking_code, "id": item.report_id}
                       if item.report_id else None),
            "reply": item.reply, "created_at": _iso(item.created_at),
            "updated_at": _iso(item.updated_at),
            "handled_by": item.handled_by.get_username() if item.handled_by_id else None,
            "handled_at": _iso(item.handled_at)}


def _media_output(media: InboundMedia) -> dict:
    return {"id": media.pk, "state": media.state, "mime": media.mime,
            "is_photo": media.is_photo, "error": media.error, "size": media.size,
            "url": f"/api/v1/inbox/media/{media.pk}/" if media.state == "ready" else None,
            "gps": ([media.gps_lon, media.gps_lat] if media.gps_lon is not None else None)}


class InboxListApi(APIView):
    """Open items, newest activity first (or another state with `state=`)."""

    permission_classes = [CanReadInbox]

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=[*InboxItem.State.values, "all"],
                                        required=False, default=InboxItem.State.OPEN)
        provider = serializers.ChoiceField(choices=Provider.choices, required=False)
        q = serializers.CharField(required=False, allow_blank=True, max_length=100)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200,
                                         default=50)

    @extend_schema(parameters=[InputSerializer], responses=OpenApiTypes.OBJECT,
                   summary="The verification inbox", operation_id="inbox_list")
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        items = selectors.inbox_list(state=data["state"], provider=data.get("provider", ""),
                                     query=data.get("q", ""))
        page = list(items[:data["limit"]])
        return Response({
            "count": items.count() if len(page) == data["limit"] else len(page),
            "results": [_item_output(item) | {"message_count": item.message_count,
                                              "photo_count": item.photo_count}
                        for item in page]})


class InboxItemApi(APIView):
    """One item: the citizen's messages with their files, and the sender's history."""

    permission_classes = [CanReadInbox]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An inbox item")
    def get(self, request, pk: int):
        item = selectors.inbox_item_get(pk)
        if item is None:
            raise NotFound(_("There is no inbox item #%(id)s.") % {"id": pk})
        contacts = [item.contact]
        if item.contact.phone:
            contacts += [c for c in selectors.contacts_by_phone(item.contact.phone)
                         if c.pk != item.contact_id]
        reports = selectors.contact_reports(contacts=contacts, phone=item.contact.phone)
        body = _item_output(item)
        body["messages"] = [{
            "id": m.pk, "kind": m.kind, "provider_type": m.provider_type, "text": m.text,
            "choice": m.choice, "lon": m.lon, "lat": m.lat, "sent_at": _iso(m.sent_at),
            "state": m.state, "files": [_media_output(f) for f in m.files.all()]}
            for m in item.messages.all()]
        body["history"] = {
            "reports": [report_brief(r) for r in reports],
            "inbox": [{"id": other.pk, "state": other.state, "reason": other.reason,
                       "created_at": _iso(other.created_at)}
                      for other in selectors.contact_inbox_history(contacts=contacts,
                                                                    exclude=item.pk)]}
        return Response(body)


class InboxItemFileApi(APIView):
    """File a report for the citizen; they get the tracking code on their channel."""

    permission_classes = [CanActOnInbox]

    class InputSerializer(serializers.Serializer):
        category = serializers.CharField(max_length=50)
        lon = serializers.FloatField(min_value=-180, max_value=180)
        lat = serializers.FloatField(min_value=-90, max_value=90)
        address = serializers.CharField(required=False, allow_blank=True, max_length=300)
        description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
        attributes = serializers.DictField(required=False)
        photo_ids = serializers.ListField(child=serializers.IntegerField(), required=False,
                                          max_length=20)
        join_incident = serializers.IntegerField(required=False)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="File a report from an inbox item")
    def post(self, request, pk: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = inbox_item_file(
            item_id=pk, agent=request.user, category_code=data["category"], lon=data["lon"],
            lat=data["lat"], address=data.get("address", ""),
            description=data.get("description", ""), attributes=data.get("attributes"),
            photo_ids=data.get("photo_ids"), join_incident_id=data.get("join_incident"))
        report = Report.objects.select_related("category", "incident").get(pk=report.pk)
        return Response({"item": _item_output(selectors.inbox_item_get(pk)),
                         "report": report_brief(report)}, status=status.HTTP_201_CREATED)


class InboxItemCloseApi(APIView):
    """Spam (optionally blocking the sender), a duplicate of a known report, or answered."""

    permission_classes = [CanActOnInbox]

    class InputSerializer(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=[InboxItem.State.SPAM,
                                                   InboxItem.State.DUPLICATE,
                                                   InboxItem.State.ANSWERED])
        reply = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        duplicate_of = serializers.CharField(required=False, allow_blank=True, max_length=20)
        block = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Close an inbox item that is not a report")
    def post(self, request, pk: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        inbox_item_close(item_id=pk, agent=request.user, outcome=data["outcome"],
                         reply=data.get("reply", ""), duplicate_of=data.get("duplicate_of", ""),
                         block=data["block"])
        return Response(_item_output(selectors.inbox_item_get(pk)))


class ContactBlockApi(APIView):
    permission_classes = [CanActOnInbox]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT,
                   summary="Block a sender (abuse list)")
    def post(self, request, pk: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = contact_block(contact_id=pk, agent=request.user,
                                reason=serializer.validated_data["reason"])
        return Response(contact_output(contact))


class ContactUnblockApi(APIView):
    permission_classes = [CanActOnInbox]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Unblock a sender")
    def post(self, request, pk: int):
        return Response(contact_output(contact_unblock(contact_id=pk)))


class InboundMediaApi(APIView):
    """A file a citizen sent, for staff only (it is not under the public /media/)."""

    permission_classes = [CanReadInbox]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
                   summary="A file a citizen sent")
    def get(self, request, pk: int):
        media = get_object_or_404(InboundMedia, pk=pk, state=InboundMedia.State.READY)
        response = FileResponse(media.file.open("rb"),
                                content_type=media.mime or "application/octet-stream")
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = f'inline; filename="file-{media.pk}{media.extension}"'
        return response

