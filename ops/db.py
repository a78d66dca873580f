"""Database helpers Django's cursors lack."""

import time

import psycopg
from django.db import connection


def fetchone_server_bound(sql: str, params: list) -> tuple | None:
    """Run one statement with server-side parameter binding, prepared per connection, and
    return its first row.

    Django's psycopg cursors bind on the client: every value is quoted into the SQL text,
    which for a statement with two dozen parameters cost more CPU than the rest of the
    call. Here the values travel apart from a statement PostgreSQL has already parsed.
    Errors are Django's (IntegrityError, …), transactions and atomic blocks are Django's
    own, and with DEBUG the statement is logged like any other."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        row = cursor.fetchone()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return row
