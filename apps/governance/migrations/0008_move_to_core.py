"""The audit log, safety modes and switches, API tokens and worker heartbeats moved to the
core app (core 0001 takes them over). Governance lets go of them in Django's state only: the
tables keep their names and rows, and the audit table its append-only trigger (0003)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0007_hardening"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="AuditChainHead"),
                migrations.DeleteModel(name="AuditCheckpoint"),
                migrations.DeleteModel(name="SafetyMode"),
                migrations.DeleteModel(name="SafetySwitch"),
                migrations.DeleteModel(name="ApiToken"),
                migrations.DeleteModel(name="WorkerHeartbeat"),
            ],
            database_operations=[],
        ),
    ]
