"""Clusters and hosts must belong to a team (0004 put the existing ones in “Default”)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0004_team"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cluster",
            name="team",
            field=models.ForeignKey(
                help_text="The team whose members may see and change this cluster.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="clusters",
                to="teams.team",
            ),
        ),
        migrations.AlterField(
            model_name="host",
            name="team",
            field=models.ForeignKey(
                help_text="The team that registered the machine; its operators may change, enroll and revoke it.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="hosts",
                to="teams.team",
            ),
        ),
    ]
