"""Intake in one statement: the database functions behind incidents.services.intake.

Filing a report used to take eleven round trips (place, begin, idempotency lock and look-up,
cell locks, planner setting, search, row lock, update or two inserts, the report, commit),
each with the ORM's query building around it. `rasad_report_intake` does the same steps in
one call, in one transaction of its own when the caller has none:

1. with an idempotency key: lock the key and return the report filed under it, if any;
2. place the point (`rasad_place`); outside every area, stop;
3. the department: the routing rule for category + district, else the category's;
4. "me too": join the given incident if it is open and of the category; otherwise take
   the cell locks (sorted keys from gis.geo.cell_lock_keys) and join the nearest open
   incident of the category within its radius and window (one UPDATE locks, checks again
   and joins), up to three candidates; else start an incident with its first history entry;
5. store the report with the incident's status.

Python checks everything before the call (incidents.services.intake.report_validate) and
turns the outcome into domain errors. `rasad_priority` mirrors incidents.priority.priority_score;
a test holds them equal.
"""

from django.db import migrations

OPEN = "('new', 'verified', 'assigned', 'en_route', 'on_site', 'reopened')"

# One expression, no FROM: the planner inlines it into the statements that call it (a SQL
# function with a FROM clause is planned again on every call).
PRIORITY_FUNCTION = """
CREATE OR REPLACE FUNCTION rasad_priority(
    p_severity integer, p_report_count integer, p_first_reported_at timestamptz,
    p_sla_hours integer, p_at timestamptz, p_reopened boolean)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(least(100.0,
               12.0 * greatest(1, least(5, p_severity))
             + least(20.0, 6.0 * ln(greatest(1, p_report_count)::float8) / ln(2.0))
             + 20.0 * least(1.0, greatest(0.0, extract(epoch FROM p_at - p_first_reported_at)::float8
                                                / 3600.0) / greatest(1, p_sla_hours))
             + CASE WHEN greatest(0.0, extract(epoch FROM p_at - p_first_reported_at)::float8
                                       / 3600.0) / greatest(1, p_sla_hours) > 1
                    THEN 10.0 ELSE 0.0 END
             + CASE WHEN p_reopened THEN 10.0 ELSE 0.0 END)::numeric, 2)::float8
$$;
"""

# A nearest-first walk of the open-incident GiST index stops at the first match; the
# planner's default, a bitmap AND with the category or status btree, reads every incident
# of the category and grows with the table (measured 3x slower at 300k). PL/pgSQL, not SQL:
# its plan is kept for the session instead of being made again on every call.
FIND_FUNCTION = f"""
CREATE OR REPLACE FUNCTION rasad_incident_to_join(
    p_category_id bigint, p_point geography, p_radius_m double precision,
    p_since timestamptz, p_exclude bigint[])
RETURNS bigint
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
AS $$
BEGIN
    RETURN (
        SELECT i.id FROM incidents_incident i
        WHERE i.category_id = p_category_id
          AND i.status IN {OPEN}
          AND i.last_reported_at >= p_since
          AND ST_DWithin(i.location, p_point, p_radius_m)
          AND i.id <> ALL (p_exclude)
        ORDER BY i.location <-> p_point
        LIMIT 1);
END;
$$;
"""

INTAKE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION rasad_report_intake(
    p_category_id bigint, p_lon double precision, p_lat double precision, p_now timestamptz,
    p_cell_locks bigint[], p_join_incident_id bigint,
    p_idempotency_lock bigint, p_idempotency_key varchar, p_fingerprint varchar,
    p_reported_note text,
    p_tracking_code varchar, p_token uuid, p_address varchar, p_description text,
    p_attributes jsonb, p_channel varchar, p_language varchar, p_joined boolean,
    p_reporter_name varchar, p_reporter_email varchar, p_reporter_phone varchar,
    p_user_id integer, p_submitted_by_id integer, p_api_client_id bigint, p_client_ip inet)
RETURNS TABLE (outcome text, report_id bigint, area_id bigint, district_id bigint,
               district_code varchar, department_id bigint, incident_id bigint,
               incident_status varchar, incident_report_count integer,
               incident_lon double precision, incident_lat double precision,
               incident_priority double precision)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_point geography := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326)::geography;
    v_category incidents_category%ROWTYPE;
    v_existing record;
    v_candidate bigint;
    v_passed bigint[] := '{{}}';
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(p_idempotency_lock);
        SELECT r.id, r.request_fingerprint INTO v_existing
        FROM incidents_report r WHERE r.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            outcome := CASE WHEN v_existing.request_fingerprint = p_fingerprint
                            THEN 'replayed' ELSE 'mismatch' END;
            report_id := v_existing.id;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    SELECT pl.area_id, pl.district_id, pl.district_code
    INTO area_id, district_id, district_code FROM rasad_place(p_lon, p_lat) pl;
    IF area_id IS NULL THEN
        outcome := 'outside';
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT * INTO v_category FROM incidents_category c WHERE c.id = p_category_id;
    department_id := coalesce(
        (SELECT rr.department_id FROM incidents_routingrule rr
         WHERE rr.category_id = p_category_id AND rr.district_id = rasad_report_intake.district_id),
        v_category.department_id);

    IF p_join_incident_id IS NULL THEN
        PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(p_cell_locks) WITH ORDINALITY AS t(k, n);
    END IF;
    -- Join: "me too" names the incident, otherwise the nearest open one of the category in
    -- its radius and window. The UPDATE locks the row and checks it again: a dispatcher may
    -- have closed or merged the incident since the search, and then the search runs again
    -- without it. Its location moves to the mean of its reports. The version is not
    -- bumped: another reporter joining changes nothing a crew or a dispatcher works with.
    FOR attempt IN 1..3 LOOP
        IF p_join_incident_id IS NOT NULL THEN
            v_candidate := CASE WHEN attempt = 1 THEN p_join_incident_id END;
        ELSE
            v_candidate := rasad_incident_to_join(
                p_category_id, v_point, v_category.cluster_radius_m::float8,
                p_now - make_interval(hours => v_category.cluster_window_hours), v_passed);
        END IF;
        EXIT WHEN v_candidate IS NULL;
        UPDATE incidents_incident i SET
            location = ST_SetSRID(ST_MakePoint(
                (ST_X(i.location::geometry) * i.report_count + p_lon) / (i.report_count + 1),
                (ST_Y(i.location::geometry) * i.report_count + p_lat) / (i.report_count + 1)),
                4326)::geography,
            report_count = i.report_count + 1,
            last_reported_at = p_now,
            priority = rasad_priority(i.severity, i.report_count + 1, i.first_reported_at,
                                      v_category.sla_hours, p_now, i.status = 'reopened'),
            updated_at = p_now
        WHERE i.id = v_candidate AND i.category_id = p_category_id AND i.status IN {OPEN}
        RETURNING i.status, i.report_count, ST_X(i.location::geometry),
                  ST_Y(i.location::geometry), i.priority
        INTO incident_status, incident_report_count, incident_lon, incident_lat,
             incident_priority;
        IF FOUND THEN
            incident_id := v_candidate;
            EXIT;
        END IF;
        v_passed := v_passed || v_candidate;
    END LOOP;
    IF incident_id IS NULL AND p_join_incident_id IS NOT NULL THEN
        outcome := 'closed';
        RETURN NEXT;
        RETURN;
    END IF;

    IF incident_id IS NULL THEN
        INSERT INTO incidents_incident AS i (
            category_id, area_id, district_id, department_id, location, line, status,
            priority, severity, report_count, merged_into_id, version, first_reported_at,
            last_reported_at, sla_due_at, verified_at, resolved_at, closed_at, created_at,
            updated_at)
        VALUES (
            p_category_id, rasad_report_intake.area_id, rasad_report_intake.district_id,
            rasad_report_intake.department_id, v_point, NULL, 'new',
            rasad_priority(v_category.severity, 1, p_now, v_category.sla_hours, p_now, false),
            v_category.severity, 1, NULL, 1, p_now, p_now,
            p_now + make_interval(hours => v_category.sla_hours), NULL, NULL, NULL, p_now, p_now)
        RETURNING i.id, i.status, i.report_count, p_lon, p_lat, i.priority
        INTO incident_id, incident_status, incident_report_count, incident_lon, incident_lat,
             incident_priority;
        INSERT INTO incidents_incidentupdate (
            incident_id, from_status, to_status, by_id, note, public, created_at)
        VALUES (rasad_report_intake.incident_id, '', 'new', NULL, p_reported_note, true, p_now);
    END IF;

    INSERT INTO incidents_report AS r (
        tracking_code, token, category_id, incident_id, area_id, district_id, department_id,
        location, address, description, attributes, channel, language, status,
        joined_existing, reporter_name, reporter_email, reporter_phone, user_id,
        submitted_by_id, api_client_id, idempotency_key, request_fingerprint, client_ip,
        rejected_reason, created_at, updated_at)
    VALUES (
        p_tracking_code, p_token, p_category_id, rasad_report_intake.incident_id,
        rasad_report_intake.area_id, rasad_report_intake.district_id,
        rasad_report_intake.department_id, v_point, p_address, p_description, p_attributes,
        p_channel, p_language, incident_status, p_joined, p_reporter_name, p_reporter_email,
        p_reporter_phone, p_user_id, p_submitted_by_id, p_api_client_id, p_idempotency_key,
        p_fingerprint, p_client_ip, '', p_now, p_now)
    RETURNING r.id INTO report_id;
    outcome := 'created';
    RETURN NEXT;
END;
$$;
"""

INTAKE_SIGNATURE = (
    "rasad_report_intake(bigint, double precision, double precision, timestamptz, bigint[], "
    "bigint, bigint, varchar, varchar, text, varchar, uuid, varchar, text, jsonb, varchar, "
    "varchar, boolean, varchar, varchar, varchar, integer, integer, bigint, inet)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0006_remove_incident_incident_open_location_and_more"),
        ("rasad_gis", "0006_place_function"),
    ]

    operations = [
        migrations.RunSQL(PRIORITY_FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS "
                          "rasad_priority(integer, integer, timestamptz, integer, timestamptz, "
                          "boolean)"),
        migrations.RunSQL(FIND_FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS "
                          "rasad_incident_to_join(bigint, geography, double precision, "
                          "timestamptz, bigint[])"),
        migrations.RunSQL(INTAKE_FUNCTION,
                          reverse_sql=f"DROP FUNCTION IF EXISTS {INTAKE_SIGNATURE}"),
    ]
