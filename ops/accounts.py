"""Citizen accounts: sign up to follow your own reports across devices."""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.exceptions import Conflict, ValidationFailed
from ops.roles import Role
from ops.throttles import SubmitRateThrottle


@transaction.atomic
def citizen_register(*, username: str, email: str, password: str):
    user_model = get_user_model()
    candidate = user_model(username=username, email=email)
    try:
        password_validation.validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed({"password": list(exc.messages)}) from exc
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, email=email,
                                                  password=password)
    except IntegrityError as exc:
        raise Conflict(_("The username “%(name)s” is taken.") % {"name": username},
                       field="username") from exc
    group, _created = Group.objects.get_or_create(name=Role.CITIZEN)
    user.groups.add(group)
    return user


class CitizenRegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(r"^[\w.@+-]{3,150}$")
        email = serializers.EmailField(required=False, allow_blank=True)
        password = serializers.CharField(min_length=8, max_length=128, write_only=True)

    @extend_schema(request=InputSerializer, summary="Create a citizen account",
                   responses={201: inline_serializer("CitizenToken", {
                       "username": serializers.CharField(), "token": serializers.CharField()})})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = citizen_register(username=data["username"], email=data.get("email", ""),
                                password=data["password"])
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"username": user.username, "token": token.key},
                        status=status.HTTP_201_CREATED)
