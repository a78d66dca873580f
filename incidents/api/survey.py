"""The satisfaction survey by its token, for the app (the page at /survey/<token>/ posts its
own form): what it asks, and the answers, once. No account: the token is the key."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import selectors
from incidents.services.survey import (
    COMMENT_MAX,
    RATINGS,
    outcome_message,
    question_fixed,
    question_rating,
    rating_label,
    survey_answer,
    survey_check_open,
)
from ops.throttles import SubmitRateThrottle


class SurveyApi(APIView):
    """GET: the questions (404 unknown, 409 answered, 410 closed). POST: the answers."""

    permission_classes = [AllowAny]
    throttle_classes = [SubmitRateThrottle]
    throttle_scope = "submit"

    class InputSerializer(serializers.Serializer):
        # Checked by the service, which says what is wrong in the reader's language.
        fixed = serializers.BooleanField(required=False, allow_null=True, default=None)
        rating = serializers.IntegerField(required=False, allow_null=True, default=None)
        comment = serializers.CharField(required=False, allow_blank=True, default="",
                                        trim_whitespace=True)

    @extend_schema(summary="A satisfaction survey's questions", responses=OpenApiTypes.OBJECT)
    def get(self, request, token: str):
        survey = survey_check_open(selectors.survey_get_by_token(token))
        report = survey.report
        return Response({
            "tracking_code": report.tracking_code,
            "category": report.category.code,
            "category_name": report.category.name_in(),
            "round": survey.round,
            "expires_at": survey.expires_at,
            "question": question_fixed(survey),
            "rating_question": question_rating(),
            "ratings": [{"value": n, "label": rating_label(n)} for n in RATINGS],
            "comment_max": COMMENT_MAX,
        })

    @extend_schema(request=InputSerializer, summary="Answer a satisfaction survey",
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, token: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = survey_answer(token=token, **serializer.validated_data)
        survey = result.survey
        return Response({"state": survey.state, "fixed": survey.fixed, "rating": survey.rating,
                         "outcome": result.outcome,
                         "detail": outcome_message(result.outcome,
                                                   survey.report.tracking_code)})
