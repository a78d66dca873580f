"""Citizen feedback on a fix, by tracking code."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import selectors
from incidents.exceptions import NotFound
from incidents.services.feedback import report_confirm_fix, report_reopen
from ops.throttles import SubmitRateThrottle


def _report(code: str):
    report = selectors.report_get_by_tracking_code(code)
    if report is None:
        raise NotFound(_("No report has the tracking code “%(code)s”.") % {"code": code})
    return report


class ReportConfirmApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    @extend_schema(request=None, summary="Confirm the fix", responses=OpenApiTypes.OBJECT)
    def post(self, request, code: str):
        incident = report_confirm_fix(report=_report(code))
        return Response({"status": incident.status})


class ReportReopenApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000)

    @extend_schema(request=InputSerializer, summary="Reopen: the problem is still there",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, code: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = report_reopen(report=_report(code),
                                 reason=serializer.validated_data["reason"])
        return Response({"status": incident.status, "priority": incident.priority})
