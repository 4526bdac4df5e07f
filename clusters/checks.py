"""System checks of stored inventory: `manage.py check --database default` lists what needs an operator.

Hostnames are checked (RFC 1123, the agent's rule) only on new input: the migration that added the rule left
existing rows alone, so that it could not fail on them. This check names each host whose stored name the rule
refuses, so an administrator can rename it.
"""

from django.core.checks import Tags, Warning, register
from django.db import connections
from lvsweb_agent.names import hostname_problem


@register(Tags.database)
def check_hostnames(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """A warning for each stored host whose name the agent would refuse."""
    if not databases:
        return []
    from clusters.models import Host

    warnings = []
    for database in databases:
        # `migrate` runs the database checks before it creates the tables: a new database has no hosts yet.
        if Host._meta.db_table not in connections[database].introspection.table_names():
            continue
        for pk, hostname in Host.objects.using(database).values_list("pk", "hostname").iterator():
            problem = hostname_problem(hostname)
            if problem:
                warnings.append(
                    Warning(
                        f"Host {pk} is named {hostname!r}: {problem}.",
                        hint="Rename it (host page → Edit, or PATCH /api/hosts/ID/) before enrolling its agent.",
                        obj=f"host {pk}",
                        id="clusters.W001",
                    )
                )
    return warnings
