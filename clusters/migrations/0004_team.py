"""Every cluster and host belongs to a team: existing ones go to a team named “Default”.

The columns become required in 0005: PostgreSQL refuses to alter a table in the transaction that just
updated its deferred foreign keys.
"""

import django.db.models.deletion
from django.db import migrations, models


def put_into_default_team(apps, schema_editor):
    """Create the “Default” team when there are clusters or hosts, and put them all in it."""
    Team = apps.get_model("teams", "Team")
    Cluster = apps.get_model("clusters", "Cluster")
    Host = apps.get_model("clusters", "Host")
    if not (Cluster.objects.filter(team__isnull=True).exists() or Host.objects.filter(team__isnull=True).exists()):
        return
    team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default"})
    Cluster.objects.filter(team__isnull=True).update(team=team)
    Host.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0003_cluster_drain_timeout_host_applied_serial_and_more"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cluster",
            name="team",
            field=models.ForeignKey(
                help_text="The team whose members may see and change this cluster.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="clusters",
                to="teams.team",
            ),
        ),
        migrations.AddField(
            model_name="host",
            name="team",
            field=models.ForeignKey(
                help_text="The team that registered the machine; its operators may change, enroll and revoke it.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="hosts",
                to="teams.team",
            ),
        ),
        migrations.RunPython(put_into_default_team, migrations.RunPython.noop),
    ]
