"""Query filters of the dispatch API, named like the inventory's (clusters/api/filtersets.py): `?cluster=<slug>`,
`?host=<hostname>`.
"""

import django_filters

from dispatch.models import Deployment, Revision


class RevisionFilterSet(django_filters.FilterSet):
    """Filter applied revisions by cluster and number (exact or a range)."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")

    class Meta:
        model = Revision
        fields = {"number": ["exact", "gte", "lte"]}


class DeploymentFilterSet(django_filters.FilterSet):
    """Filter deployments by cluster, host, status and kind."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    host = django_filters.CharFilter(field_name="host__hostname")

    class Meta:
        model = Deployment
        fields = ["status", "kind"]
