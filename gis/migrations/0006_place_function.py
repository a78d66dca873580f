"""rasad_place(lon, lat): the service area and district holding a point, in one indexed
query returning ids only. gis.areas.place_point and the intake function both call it."""

from django.db import migrations

PLACE_FUNCTION = """
CREATE OR REPLACE FUNCTION rasad_place(p_lon double precision, p_lat double precision)
RETURNS TABLE (area_id bigint, district_id bigint, district_code varchar)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.id, d.id, d.code
    FROM rasad_gis_servicearea a
    CROSS JOIN (SELECT ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326) AS geom) p
    LEFT JOIN LATERAL (
        SELECT d.id, d.code FROM rasad_gis_district d
        WHERE d.area_id = a.id AND ST_Intersects(d.boundary, p.geom)
        ORDER BY d.id LIMIT 1) d ON true
    WHERE ST_Intersects(a.boundary, p.geom)
    ORDER BY a.id
    LIMIT 1
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("rasad_gis", "0005_alter_district_options_alter_servicearea_options"),
    ]

    operations = [
        migrations.RunSQL(PLACE_FUNCTION,
                          reverse_sql="DROP FUNCTION IF EXISTS rasad_place(double precision, "
                                      "double precision)"),
    ]
