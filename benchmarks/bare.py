"""The baselines of the benchmarks (benchmark server only).

- Intake: a DRF endpoint that inserts one plain row. Same stack as POST /api/v1/reports/
  (server, middleware, DRF parsing and default authentication), none of Rasad's work: no
  validation, lookups, locks or clustering.
- Channels: signed-webhook endpoints that check X-Hub-Signature-256 over the raw body and
  answer 200, one of them after one INSERT of the body into bench_plain. Same server,
  middleware and CSRF exemption as /channels/whatsapp/webhook, none of Rasad's work: no
  parsing, no dedupe, no contact, no task.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

PLAIN_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_plain (
    id bigserial PRIMARY KEY,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class BarePlainInsertApi(APIView):
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_plain (body, created_at) VALUES (%s::jsonb, now()) "
                "RETURNING id",
                [json.dumps(request.data)],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id}, status=status.HTTP_201_CREATED)


def _signature_ok(request: HttpRequest) -> bool:
    """Meta's X-Hub-Signature-256: HMAC-SHA256 of the raw body with the WhatsApp app secret,
    compared in constant time."""
    expected = "sha256=" + hmac.new(settings.RASAD_WHATSAPP_APP_SECRET.encode(), request.body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", ""))


@csrf_exempt
def bare_signed_webhook(request: HttpRequest) -> HttpResponse:
    """Verify and acknowledge: what any webhook does before it answers, and nothing more."""
    return HttpResponse(status=200 if _signature_ok(request) else 403)


@csrf_exempt
def bare_signed_webhook_insert(request: HttpRequest) -> HttpResponse:
    """Verify, store the raw body in one INSERT (autocommit), acknowledge: the least a
    webhook that must not lose a delivery it answered 200 to does."""
    if not _signature_ok(request):
        return HttpResponse(status=403)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_plain (body, created_at) VALUES (%s::jsonb, now())",
                       [request.body.decode()])
    return HttpResponse(status=200)
