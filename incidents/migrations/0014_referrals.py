import django.contrib.postgres.indexes
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import incidents.models.referrals


class Migration(migrations.Migration):
    """Referral of incidents to outside agencies (issue 10): agencies, referrals, their
    answers and chases; the `referred` status (open, so in the open-incident index)."""

    dependencies = [
        ("incidents", "0013_stats_monthly"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Agency',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name_en', models.CharField(max_length=200, verbose_name='name (English)')),
                ('name_ar', models.CharField(blank=True, max_length=200, verbose_name='name (Arabic)')),
                ('name_fa', models.CharField(blank=True, max_length=200, verbose_name='name (Persian)')),
                ('code', models.SlugField(unique=True)),
                ('email', models.EmailField(blank=True, help_text='Where referrals are sent by email.', max_length=254)),
                ('open311_endpoint', models.URLField(blank=True, help_text="The agency's GeoReport v2 base URL (…/requests.json is appended).")),
                ('open311_api_key', models.CharField(blank=True, max_length=200)),
                ('open311_jurisdiction_id', models.CharField(blank=True, max_length=200)),
                ('service_code_map', models.JSONField(blank=True, default=dict)),
                ('default_service_code', models.CharField(blank=True, max_length=100)),
                ('answer_due_days', models.PositiveSmallIntegerField(default=5, help_text='Working days the agency has to answer before it is chased.')),
                ('updates_polled_until', models.DateTimeField(blank=True, null=True)),
                ('active', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'outside agency',
                'verbose_name_plural': 'outside agencies',
                'ordering': ['code'],
            },
        ),
        migrations.CreateModel(
            name='Referral',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('note', models.TextField(blank=True)),
                ('method', models.CharField(choices=[('email', 'email'), ('open311', 'Open311')], max_length=10)),
                ('reference', models.CharField(default=incidents.models.referrals._reference, editable=False, max_length=60)),
                ('state', models.CharField(choices=[('pending', 'waiting to be sent'), ('awaiting_id', "sent, waiting for the agency's request number"), ('sent', 'sent'), ('answered', 'answered'), ('failed', 'could not be sent')], default='pending', max_length=12)),
                ('external_id', models.CharField(blank=True, help_text="The agency's service_request_id.", max_length=200)),
                ('token', models.CharField(blank=True, max_length=200)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField()),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('referred_at', models.DateTimeField()),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('answered_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'referral',
                'verbose_name_plural': 'referrals',
                'ordering': ['-referred_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='ReferralAnswer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('external_update_id', models.CharField(max_length=200)),
                ('status', models.CharField(blank=True, max_length=40)),
                ('description', models.TextField(blank=True)),
                ('media_url', models.URLField(blank=True, max_length=1000)),
                ('answered_at', models.DateTimeField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['answered_at', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='ReferralChase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.PositiveSmallIntegerField()),
                ('emailed', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['period'],
            },
        ),
        migrations.RemoveIndex(
            model_name='incident',
            name='incident_open_loc_time',
        ),
        migrations.AddField(
            model_name='incident',
            name='referred_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='incident',
            name='status',
            field=models.CharField(choices=[('new', 'new'), ('verified', 'verified'), ('assigned', 'assigned'), ('en_route', 'en route'), ('on_site', 'on site'), ('resolved', 'resolved'), ('closed', 'closed'), ('rejected', 'rejected'), ('merged', 'merged'), ('reopened', 'reopened'), ('referred', 'referred to another agency')], default='new', max_length=20),
        ),
        migrations.AlterField(
            model_name='incidentupdate',
            name='from_status',
            field=models.CharField(blank=True, choices=[('new', 'new'), ('verified', 'verified'), ('assigned', 'assigned'), ('en_route', 'en route'), ('on_site', 'on site'), ('resolved', 'resolved'), ('closed', 'closed'), ('rejected', 'rejected'), ('merged', 'merged'), ('reopened', 'reopened'), ('referred', 'referred to another agency')], max_length=20),
        ),
        migrations.AlterField(
            model_name='incidentupdate',
            name='to_status',
            field=models.CharField(blank=True, choices=[('new', 'new'), ('verified', 'verified'), ('assigned', 'assigned'), ('en_route', 'en route'), ('on_site', 'on site'), ('resolved', 'resolved'), ('closed', 'closed'), ('rejected', 'rejected'), ('merged', 'merged'), ('reopened', 'reopened'), ('referred', 'referred to another agency')], max_length=20),
        ),
        migrations.AlterField(
            model_name='report',
            name='status',
            field=models.CharField(choices=[('new', 'new'), ('verified', 'verified'), ('assigned', 'assigned'), ('en_route', 'en route'), ('on_site', 'on site'), ('resolved', 'resolved'), ('closed', 'closed'), ('rejected', 'rejected'), ('merged', 'merged'), ('reopened', 'reopened'), ('referred', 'referred to another agency')], default='new', max_length=20),
        ),
        migrations.AddField(
            model_name='agency',
            name='categories',
            field=models.ManyToManyField(blank=True, help_text='Categories this agency usually handles.', related_name='agencies', to='incidents.category'),
        ),
        migrations.AddField(
            model_name='agency',
            name='departments',
            field=models.ManyToManyField(blank=True, help_text='Departments whose incidents this agency often takes.', related_name='agencies', to='incidents.department'),
        ),
        migrations.AddField(
            model_name='incident',
            name='referred_to',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='incidents', to='incidents.agency'),
        ),
        migrations.AddIndex(
            model_name='incident',
            index=django.contrib.postgres.indexes.GistIndex(condition=models.Q(('status__in', ('new', 'verified', 'assigned', 'en_route', 'on_site', 'reopened', 'referred'))), fields=['location', 'last_reported_at'], name='incident_open_loc_time'),
        ),
        migrations.AddField(
            model_name='referral',
            name='agency',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referrals', to='incidents.agency'),
        ),
        migrations.AddField(
            model_name='referral',
            name='by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='referral',
            name='incident',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='referrals', to='incidents.incident'),
        ),
        migrations.AddField(
            model_name='referralanswer',
            name='referral',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='answers', to='incidents.referral'),
        ),
        migrations.AddField(
            model_name='referralanswer',
            name='update',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='incidents.incidentupdate'),
        ),
        migrations.AddField(
            model_name='referralchase',
            name='referral',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='chases', to='incidents.referral'),
        ),
        migrations.AddConstraint(
            model_name='agency',
            constraint=models.CheckConstraint(condition=models.Q(('answer_due_days__gte', 1)), name='agency_answer_due_positive'),
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(fields=['state', 'next_attempt_at'], name='referral_due'),
        ),
        migrations.AddIndex(
            model_name='referral',
            index=models.Index(condition=models.Q(('external_id', ''), _negated=True), fields=['agency', 'external_id'], name='referral_agency_external'),
        ),
        migrations.AddConstraint(
            model_name='referral',
            constraint=models.UniqueConstraint(fields=('reference',), name='referral_reference_unique'),
        ),
        migrations.AddConstraint(
            model_name='referralanswer',
            constraint=models.UniqueConstraint(fields=('referral', 'external_update_id'), name='referral_answer_once'),
        ),
        migrations.AddConstraint(
            model_name='referralchase',
            constraint=models.UniqueConstraint(fields=('referral', 'period'), name='referral_chase_once'),
        ),
    ]
