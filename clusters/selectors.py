"""Read helpers of the inventory, filtered by the policy: the objects of the user's teams, and nothing else.

The rules are in teams/policy.py; these querysets apply them to the cluster objects, which the policy (a layer
below clusters) does not import. Lists, counts, search and autocomplete read through them, so they never leak.
"""

import re

from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, TextField

from audit.models import AuditEntry
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
from teams import policy
from teams.policy import User


def counted(rows: QuerySet) -> Subquery:
    """The number of `rows` (filtered by an OuterRef to the row it annotates), as a correlated subquery.

    A Count() over a join made PostgreSQL join and group every real server before the LIMIT of a list, and again
    in the paginator's COUNT. This is counted for the rows a page shows only, and the COUNT leaves it out
    (docs/performance.md, "Console at scale"). `COUNT(*)`, not of the ids: PostgreSQL then counts the real
    servers of a service in the index of their service alone (an index-only scan), without reading the table.
    """
    return Subquery(
        rows.order_by().values(n=Func(template="COUNT(*)", output_field=IntegerField())), output_field=IntegerField()
    )


def cluster_counts() -> dict[str, Subquery]:
    """`virtual_service_count` and `real_server_count` of a cluster, as `counted` subqueries."""
    return {
        "virtual_service_count": counted(VirtualService.objects.filter(cluster=OuterRef("pk"))),
        "real_server_count": counted(RealServer.objects.filter(virtual_service__cluster=OuterRef("pk"))),
    }


def real_server_count() -> Subquery:
    """A virtual service's number of real servers, as a `counted` subquery."""
    return counted(RealServer.objects.filter(virtual_service=OuterRef("pk")))


def visible_clusters(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Clusters of the user's teams."""
    return policy.filtered_by_team(queryset if queryset is not None else Cluster.objects.all(), user, "team_id")


def visible_virtual_services(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Virtual services of clusters of the user's teams."""
    return policy.filtered_by_team(
        queryset if queryset is not None else VirtualService.objects.all(), user, "cluster__team_id"
    )


def visible_real_servers(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Real servers of virtual services of clusters of the user's teams."""
    return policy.filtered_by_team(
        queryset if queryset is not None else RealServer.objects.all(), user, "virtual_service__cluster__team_id"
    )


class SearchableAddress(Func):
    """An address as its search index holds it (clusters migration 0012): its text with "." and ":" written as "x"
    and "y", so that pg_trgm reads one word, whose trigrams tell addresses apart, rather than four numbers of one
    to three digits whose few trigrams every address shares (a search for 10.0.0.1 read 20,000 index entries)."""

    template = "REPLACE(REPLACE(%(expressions)s, '.', 'x'), ':', 'y')"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "REPLACE(REPLACE(HOST(%(expressions)s), '.', 'x'), ':', 'y')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


#: What can be part of an address as the console writes it (IPv6 in lower case).
ADDRESS_TEXT = re.compile(r"[0-9a-f.:]+")


def matching_real_servers(queryset: QuerySet, text: str) -> QuerySet:
    """The real servers of `queryset` whose address, description or host's name contains `text` (any case).

    The hosts are matched first, in a query of their own on the small hosts table: the host's name in the same
    OR as the real server's own columns would join every real server to its host before filtering, where on
    their own the address and the description are served by the trigram indexes (clusters migration 0012).
    """
    hosts = list(Host.objects.filter(hostname__icontains=text).values_list("pk", flat=True))
    matching = Q(description__icontains=text) | Q(host_id__in=hosts)
    address = text.lower()
    if ADDRESS_TEXT.fullmatch(address):
        queryset = queryset.alias(searchable_address=SearchableAddress(F("address")))
        matching |= Q(searchable_address__contains=address.replace(".", "x").replace(":", "y"))
    return queryset.filter(matching)


def visible_cluster_hosts(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Host roles in clusters of the user's teams."""
    return policy.filtered_by_team(
        queryset if queryset is not None else ClusterHost.objects.all(), user, "cluster__team_id"
    )


def visible_hosts(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Hosts registered by the user's teams, and hosts that play a role in one of their clusters."""
    queryset = queryset if queryset is not None else Host.objects.all()
    if policy.is_superuser(user):
        return queryset
    teams = policy.visible_teams(user).values("pk")
    in_clusters = ClusterHost.objects.filter(cluster__team_id__in=teams).values("host_id")
    return queryset.filter(Q(team_id__in=teams) | Q(pk__in=in_clusters))


def visible_audit_entries(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Audit entries about the user's teams and their clusters (from before a transfer in, too).

    Entries that belong to no team (sign-ins, tokens, teams being created) are for superusers only.
    """
    queryset = queryset if queryset is not None else AuditEntry.objects.all()
    if policy.is_superuser(user):
        return queryset
    teams = policy.visible_teams(user).values("pk")
    clusters = Cluster.objects.filter(team_id__in=teams).values("pk")
    return queryset.filter(Q(team_id__in=teams) | Q(cluster_id__in=clusters))
