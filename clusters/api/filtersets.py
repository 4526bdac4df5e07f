"""Query filters of the inventory API."""

import django_filters
from django import forms

from clusters import selectors
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService


def visible(queryset_of):
    """A filter's choices: what the request's user can see, so that another team's id answers as an unknown one."""
    return lambda request: queryset_of(getattr(request, "user", None))


class IPAddressFilter(django_filters.CharFilter):
    """An exact-address filter that refuses a value which is not an IP address (400, not a database error)."""

    field_class = forms.GenericIPAddressField


class ClusterFilterSet(django_filters.FilterSet):
    """Filter clusters by team, name or slug."""

    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = Cluster
        fields = {"name": ["exact", "icontains"], "slug": ["exact"]}


class HostFilterSet(django_filters.FilterSet):
    """Filter hosts by team, name, address, agent status and cluster."""

    team = django_filters.CharFilter(field_name="team__slug")

    cluster = django_filters.CharFilter(field_name="cluster_roles__cluster__slug", distinct=True)
    management_address = IPAddressFilter()
    role = django_filters.CharFilter(field_name="cluster_roles__role", distinct=True)

    class Meta:
        model = Host
        fields = {
            "hostname": ["exact", "icontains"],
            "agent_status": ["exact"],
        }


class ClusterHostFilterSet(django_filters.FilterSet):
    """Filter host roles by cluster, host and role."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    host = django_filters.CharFilter(field_name="host__hostname")

    class Meta:
        model = ClusterHost
        fields = ["role"]


class VirtualServiceFilterSet(django_filters.FilterSet):
    """Filter virtual services by cluster, VIP, port, protocol, scheduler and more."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    address = IPAddressFilter()

    class Meta:
        model = VirtualService
        fields = ["protocol", "address", "port", "fwmark", "scheduler", "forward_method", "enabled"]


class RealServerFilterSet(django_filters.FilterSet):
    """Filter real servers by cluster, service, address, state and forwarding method."""

    cluster = django_filters.CharFilter(field_name="virtual_service__cluster__slug")
    host = django_filters.CharFilter(field_name="host__hostname")
    address = IPAddressFilter()
    # Only the user's own services are valid choices: another team's id answers as an unknown one does.
    virtual_service = django_filters.ModelChoiceFilter(queryset=visible(selectors.visible_virtual_services))

    class Meta:
        model = RealServer
        fields = ["virtual_service", "address", "port", "state", "forward_method", "tunnel_type"]
