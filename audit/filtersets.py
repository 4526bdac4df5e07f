"""Filters of the audit pages: actor, action, object type, result, time range and free-text search."""

import django_filters
from django.db.models import Q

from audit.choices import ActorType, Result
from audit.models import AuditEntry


class AuditEntryFilterSet(django_filters.FilterSet):
    """What an operator narrows the history by; every page and both exports use the same filter."""

    q = django_filters.CharFilter(method="search", label="Search")
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label="Actor")
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices, label="Actor type")
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith", label="Action")
    object_type = django_filters.CharFilter(field_name="object_type", label="Object type")
    result = django_filters.ChoiceFilter(choices=Result.choices)
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte", label="From")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lte", label="Until")

    class Meta:
        model = AuditEntry
        fields = ["q", "actor", "actor_type", "action", "object_type", "result", "since", "until"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(actor_name__icontains=value)
            | Q(action__icontains=value)
            | Q(object_repr__icontains=value)
            | Q(message__icontains=value)
            | Q(request_id=value)
        )
