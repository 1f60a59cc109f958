"""The models that moved here from governance, taken over in Django's state only.

Their tables (governance_auditevent, governance_safetymode, ...) were created by governance's
migrations 0001-0007 and keep their names (each model's `db_table`), their rows and the audit
table's append-only trigger (governance 0003): this migration creates nothing in the database.
governance 0008 then drops the models from governance's state, again touching no table. So a
fresh database gets the tables from governance's migrations as before, and an existing one
keeps them as they are.

The content types of the moved models follow them to `core` (with the permissions that point
at them); on a fresh database there are none yet, and Django creates core's after migrating.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = [
    "auditevent",
    "auditchainhead",
    "auditcheckpoint",
    "safetymode",
    "safetyswitch",
    "apitoken",
    "workerheartbeat",
]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = ContentType.objects.filter(app_label=new, model__in=MOVED).values_list(
        "model", flat=True
    )
    left = set(MOVED) - set(taken)
    ContentType.objects.filter(app_label=old, model__in=left).update(app_label=new)


def content_types_to_core(apps, schema_editor):
    _relabel(apps, "governance", "core")


def content_types_to_governance(apps, schema_editor):
    _relabel(apps, "core", "governance")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        # The tables exist, in their last shape (governance 0007 added AuditCheckpoint and
        # WorkerHeartbeat.boot).
        ("governance", "0007_hardening"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditChainHead",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("seq", models.PositiveBigIntegerField(default=0)),
                        ("hash", models.CharField(max_length=64)),
                    ],
                    options={
                        "db_table": "governance_auditchainhead",
                    },
                ),
                migrations.CreateModel(
                    name="AuditCheckpoint",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("seq", models.PositiveBigIntegerField()),
                        ("hash", models.CharField(blank=True, max_length=64)),
                        ("at", models.DateTimeField()),
                        ("key_id", models.CharField(max_length=8)),
                        ("signature", models.CharField(max_length=64)),
                        ("failed", models.JSONField(blank=True, default=list)),
                    ],
                    options={
                        "db_table": "governance_auditcheckpoint",
                        "ordering": ["-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="SafetyMode",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("scope", models.CharField(default="global", max_length=64, unique=True)),
                        (
                            "mode",
                            models.CharField(
                                choices=[
                                    ("autonomous", "Autonomous"),
                                    ("supervised", "Supervised"),
                                    ("dry_run", "Dry run"),
                                    ("halted", "Halted"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "fallback_mode",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("autonomous", "Autonomous"),
                                    ("supervised", "Supervised"),
                                    ("dry_run", "Dry run"),
                                    ("halted", "Halted"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("reason", models.TextField(blank=True)),
                        ("changed_by", models.CharField(blank=True, max_length=150)),
                        ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("version", models.PositiveIntegerField(default=1)),
                    ],
                    options={
                        "db_table": "governance_safetymode",
                    },
                ),
                migrations.CreateModel(
                    name="WorkerHeartbeat",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("hostname", models.CharField(max_length=200, unique=True)),
                        ("pid", models.PositiveIntegerField(default=0)),
                        ("boot", models.CharField(blank=True, max_length=32)),
                        ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "last_seen",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                    ],
                    options={
                        "db_table": "governance_workerheartbeat",
                    },
                ),
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=80)),
                        ("prefix", models.CharField(max_length=12)),
                        ("digest", models.CharField(max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_tokens",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "governance_apitoken",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="SafetySwitch",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("scope", models.CharField(default="global", max_length=64)),
                        (
                            "name",
                            models.CharField(
                                choices=[
                                    ("allow_protected_namespaces", "Allow protected namespaces"),
                                    ("lift_blast_radius", "Lift blast-radius limit"),
                                    ("allow_chaos", "Allow chaos experiments"),
                                    ("auto_approve_low_severity", "Auto-approve low severity"),
                                    (
                                        "auto_heal_preventive_production",
                                        "Auto-heal predicted failures in production",
                                    ),
                                ],
                                max_length=40,
                            ),
                        ),
                        ("enabled", models.BooleanField(default=False)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("reason", models.TextField(blank=True)),
                        ("changed_by", models.CharField(blank=True, max_length=150)),
                        ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("version", models.PositiveIntegerField(default=1)),
                    ],
                    options={
                        "db_table": "governance_safetyswitch",
                        "constraints": [
                            models.UniqueConstraint(fields=("scope", "name"), name="uniq_switch")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("seq", models.PositiveBigIntegerField(unique=True)),
                        ("created_at", models.DateTimeField(db_index=True)),
                        ("actor", models.CharField(db_index=True, max_length=150)),
                        ("verb", models.CharField(db_index=True, max_length=80)),
                        ("target_type", models.CharField(blank=True, max_length=60)),
                        ("target_id", models.CharField(blank=True, max_length=100)),
                        ("target_repr", models.CharField(blank=True, max_length=300)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("reason", models.TextField(blank=True)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64, unique=True)),
                        (
                            "actor_user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "governance_auditevent",
                        "ordering": ["-seq"],
                        "indexes": [
                            models.Index(
                                fields=["target_type", "target_id"],
                                name="governance__target__e5d48d_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_core, content_types_to_governance),
    ]
