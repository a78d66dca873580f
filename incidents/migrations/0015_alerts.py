import django.contrib.gis.db.models.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Area alerts, subscriptions and notices (issue 10)."""

    dependencies = [
        ("incidents", "0014_referrals"),
        ("rasad_gis", "0008_district_population"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(choices=[
                ("status", "status change"), ("dialogue", "conversation"),
                ("agent", "answer from an agent"),
                ("receipt", "tracking code of a report taken by an agent"),
                ("survey", "satisfaction survey"), ("alert", "area alert"),
                ("digest", "daily digest of area alerts"), ("notice", "notice from the city"),
                ("subscribe", "confirmation of an alert subscription")],
                default="status", max_length=10),
        ),
        migrations.CreateModel(
            name="AlertSubscription",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(choices=[("district", "a district"), ("area", "a drawn area"), ("city", "the whole city")], max_length=10)),
                ("area", django.contrib.gis.db.models.fields.MultiPolygonField(blank=True, null=True, srid=4326)),
                ("frequency", models.CharField(choices=[("immediate", "immediately"), ("daily", "daily digest")], default="immediate", max_length=10)),
                ("language", models.CharField(default="en", max_length=5)),
                ("state", models.CharField(choices=[("pending", "waiting for confirmation"), ("active", "active"), ("unsubscribed", "unsubscribed")], default="pending", max_length=14)),
                ("token", models.CharField(max_length=64, unique=True)),
                ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                ("unsubscribed_at", models.DateTimeField(blank=True, null=True)),
                ("digest_until", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("categories", models.ManyToManyField(blank=True, related_name="alert_subscriptions", to="incidents.category")),
                ("contact", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="alert_subscriptions", to="incidents.channelcontact")),
                ("district", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="alert_subscriptions", to="rasad_gis.district")),
                ("service_area", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="alert_subscriptions", to="rasad_gis.servicearea")),
                ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="alert_subscriptions", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "verbose_name": "alert subscription",
                "verbose_name_plural": "alert subscriptions",
                "indexes": [
                    models.Index(condition=models.Q(("state", "active")), fields=["state", "frequency"], name="alert_sub_state"),
                    models.Index(condition=models.Q(("state", "active")), fields=["district"], name="alert_sub_district"),
                ],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(models.Q(("area__isnull", True), ("district__isnull", False), ("scope", "district")), models.Q(("area__isnull", False), ("district__isnull", True), ("scope", "area")), models.Q(("area__isnull", True), ("district__isnull", True), ("scope", "city")), _connector="OR"), name="alert_subscription_scope_fields"),
                ],
            },
        ),
        migrations.CreateModel(
            name="Notice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("road_closure", "road closure"), ("water_cut", "water cut"), ("collection", "collection day"), ("storm", "storm warning"), ("other", "notice")], default="other", max_length=14)),
                ("title_en", models.CharField(blank=True, max_length=200)),
                ("title_ar", models.CharField(blank=True, max_length=200)),
                ("title_fa", models.CharField(blank=True, max_length=200)),
                ("body_en", models.TextField(blank=True)),
                ("body_ar", models.TextField(blank=True)),
                ("body_fa", models.TextField(blank=True)),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField()),
                ("fanned_out_at", models.DateTimeField(blank=True, null=True)),
                ("fanned_out_count", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("created_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("department", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="notices", to="incidents.department")),
                ("districts", models.ManyToManyField(blank=True, related_name="notices", to="rasad_gis.district")),
                ("service_area", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="notices", to="rasad_gis.servicearea")),
            ],
            options={
                "verbose_name": "notice",
                "verbose_name_plural": "notices",
                "indexes": [models.Index(fields=["service_area", "ends_at"], name="notice_valid")],
                "constraints": [models.CheckConstraint(condition=models.Q(("ends_at__gt", models.F("starts_at"))), name="notice_ends_after_start")],
            },
        ),
        # The alert sweep reads the last hours' new incidents and resolutions every minute.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS incident_created_at ON incidents_incident (created_at)",
            "DROP INDEX IF EXISTS incident_created_at"),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS update_resolved_at ON incidents_incidentupdate "
            "(created_at) WHERE to_status = 'resolved'",
            "DROP INDEX IF EXISTS update_resolved_at"),
        # The drawn areas are matched against incident points with ST_Covers.
        migrations.RunSQL(
            "CREATE INDEX alert_sub_area_gist ON incidents_alertsubscription USING gist (area) "
            "WHERE state = 'active' AND scope = 'area'",
            "DROP INDEX IF EXISTS alert_sub_area_gist"),
    ]
