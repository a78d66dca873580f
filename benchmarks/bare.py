"""The baseline for the intake benchmark: a DRF endpoint that inserts one plain row.

Same stack as POST /api/v1/reports/ (server, middleware, DRF parsing and default
authentication), none of Rasad's work: no validation, lookups, locks or clustering.
"""

import json

from django.db import connection
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
