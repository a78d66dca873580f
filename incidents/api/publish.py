"""Dispatchers choose whether an incident's description goes into the open data."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.api.permissions import IsDispatcher, dispatch_require
from incidents.models import Incident
from incidents.services.opendata import incident_description_publish


class IncidentPublishApi(APIView):
    """Publish the incident's description in the open data (`publish: true`) or withdraw
    it; recorded as an internal note. Dispatchers of the incident's department only."""

    permission_classes = [IsDispatcher]

    class InputSerializer(serializers.Serializer):
        publish = serializers.BooleanField()

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Incident
            fields = ["id", "publish_description", "version"]

    @extend_schema(request=InputSerializer, responses=OutputSerializer,
                   summary="Publish an incident's description in the open data")
    def post(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        dispatch_require(request, incident)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_description_publish(
            incident=incident, publish=serializer.validated_data["publish"], by=request.user)
        return Response(self.OutputSerializer(incident).data)
