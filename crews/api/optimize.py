"""POST /api/v1/optimize?budget_s=5: a VROOM problem in, the VROOM solution out."""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from crews.optimizer import ENGINES, ProblemError, optimize
from ops.roles import Role, user_has_role

DEFAULT_BUDGET_S = 1.0
MIN_BUDGET_S = 0.1
MAX_BUDGET_S = 60.0


class IsStaff(BasePermission):
    message = gettext_lazy("Only city staff may do this.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *Role.STAFF)


class OptimizeApi(APIView):
    """Solve a route problem in the VROOM JSON format
    (https://github.com/VROOM-Project/vroom/blob/master/docs/API.md).

    Jobs and vehicles with `location` [lon, lat] and no `matrices` use great-circle
    distance × 1.3 at 30 km/h (`summary.matrix_source` says which). Unassigned jobs carry a
    `reason`; `summary.engine` names the solver: VROOM under 1.5 s, PyVRP from 1.5 s unless
    the problem has breaks or several windows on one job. Blocks for up to `budget_s`."""

    # Token first, so an anonymous caller gets 401 with a WWW-Authenticate challenge.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsStaff]
    parser_classes = [JSONParser]

    class QuerySerializer(serializers.Serializer):
        budget_s = serializers.FloatField(min_value=MIN_BUDGET_S, max_value=MAX_BUDGET_S,
                                          default=DEFAULT_BUDGET_S)
        engine = serializers.ChoiceField(choices=ENGINES, required=False)

    @extend_schema(
        summary="Optimise routes (VROOM JSON format)",
        parameters=[
            OpenApiParameter("budget_s", float, description=(
                f"Seconds to spend, {MIN_BUDGET_S:g} to {MAX_BUDGET_S:g} "
                f"(default {DEFAULT_BUDGET_S:g}).")),
            OpenApiParameter("engine", str, enum=list(ENGINES),
                             description="Force an engine; by default chosen from the budget."),
        ],
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            solution = optimize(request.data, budget_s=query.validated_data["budget_s"],
                                engine=query.validated_data.get("engine"))
        except ProblemError as exc:
            field = exc.field or "non_field_errors"
            return Response({"detail": str(exc), "code": "invalid_problem",
                             "errors": {field: [exc.message]}},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(solution)
