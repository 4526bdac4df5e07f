"""Audit pages: the global history, a cluster's History tab and one object's history, with exports.

In clusters/ rather than audit/: they join the audit trail with the inventory and the user's teams, and audit is
the lowest layer of the console (.importlinter), which every app writes to and which imports none of them.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.views.generic import ListView

from audit import anchors, exports
from audit.filtersets import AuditEntryFilterSet
from audit.models import AuditEntry
from audit.presentation import present
from clusters import selectors
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService

#: Object types with a History tab, and how to find the cluster that decides who may read it.
HISTORY_OBJECTS = {
    "clusters.cluster": Cluster,
    "clusters.virtualservice": VirtualService,
    "clusters.realserver": RealServer,
    "clusters.clusterhost": ClusterHost,
    "clusters.host": Host,
}


def visible_entries(user):
    """Entries the user may read: those of their teams (the policy's `visible_audit_entries`)."""
    return selectors.visible_audit_entries(user, AuditEntry.objects.all())


class AuditListView(LoginRequiredMixin, ListView):
    """A filtered, paginated list of entries; `?export=csv` or `?export=json` downloads what it shows."""

    template_name = "audit/entry_list.html"
    context_object_name = "entries"
    paginate_by = 50
    title = "Audit history"
    export_name = "audit"

    def scope(self):
        """The entries this page is about, before the user's filter."""
        return visible_entries(self.request.user)

    @cached_property
    def filterset(self):
        return AuditEntryFilterSet(self.request.GET or None, queryset=self.scope())

    def get_queryset(self):
        return self.filterset.qs.order_by("-id")

    def get(self, request, *args, **kwargs):
        export = request.GET.get("export")
        if export in ("csv", "json"):
            queryset = self.filterset.qs.order_by("id")
            return (exports.as_csv if export == "csv" else exports.as_json)(queryset, self.export_name)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        query.pop("export", None)
        context.update(
            title=self.title,
            filter=self.filterset,
            query=query.urlencode(),
            filter_errors=self.filterset.errors if self.filterset.is_bound else {},
            presented=present(context["entries"]),
        )
        return context


class GlobalAuditView(AuditListView):
    """Every entry; superusers only."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.is_superuser:
            raise PermissionDenied("The global audit history is for superusers.")
        return super().dispatch(request, *args, **kwargs)

    def scope(self):
        return AuditEntry.objects.all()

    def get_context_data(self, **kwargs):
        # The newest checkpoint (the tail of its file) and the last verification's cached result: a page
        # view never walks the chain (audit/tasks.py verifies it periodically).
        return super().get_context_data(anchor_status=anchors.status(), **kwargs)


class ClusterHistoryView(AuditListView):
    """The History tab of a cluster: every entry about it and the objects in it."""

    @cached_property
    def cluster(self):
        return get_object_or_404(selectors.visible_clusters(self.request.user), slug=self.kwargs["slug"])

    @property
    def title(self):
        return f"History of {self.cluster}"

    @property
    def export_name(self):
        return f"history-{self.cluster.slug}"

    def scope(self):
        # Whoever may see the cluster now reads its whole history, from before a transfer too.
        return AuditEntry.objects.filter(cluster_id=self.cluster.pk)

    def get_context_data(self, **kwargs):
        return super().get_context_data(cluster=self.cluster, **kwargs)


class ObjectHistoryView(AuditListView):
    """The History tab of one object (a virtual service, a real server, a host …), deleted ones included."""

    @cached_property
    def object_type(self):
        if self.kwargs["object_type"] not in HISTORY_OBJECTS:
            raise Http404("No history for that kind of object.")
        return self.kwargs["object_type"]

    @cached_property
    def object_label(self):
        entry = (
            visible_entries(self.request.user)
            .filter(object_type=self.object_type, object_id=str(self.kwargs["object_id"]))
            .order_by("-id")
            .first()
        )
        if entry is None:
            raise Http404("No history for that object.")
        return entry.object_repr

    @property
    def title(self):
        return f"History of {self.object_label}"

    @property
    def export_name(self):
        return f"history-{self.object_type.split('.')[-1]}-{self.kwargs['object_id']}"

    def scope(self):
        self.object_label  # noqa: B018  (404 before anything else when there is nothing visible)
        return visible_entries(self.request.user).filter(
            object_type=self.object_type, object_id=str(self.kwargs["object_id"])
        )
