import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("healing", "0002_incident_recovered_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogExcerpt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                ("pod", models.CharField(blank=True, max_length=253)),
                ("container", models.CharField(blank=True, max_length=253)),
                ("previous", models.BooleanField(default=False)),
                ("lines", models.JSONField(default=list)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "incident",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="log_excerpts",
                        to="healing.incident",
                    ),
                ),
            ],
            options={
                "ordering": ["at", "pk"],
            },
        ),
    ]
