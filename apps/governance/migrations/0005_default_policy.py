from django.db import migrations


def create(apps, schema_editor):
    from apps.governance.policy import DEFAULT_RULES

    Policy = apps.get_model("governance", "Policy")
    if not Policy.objects.exists():
        Policy.objects.create(name="default", version=1, active=True, rules=DEFAULT_RULES)


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_actions")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
