"""Console pages of revisions: browse a cluster's applied revisions, compare two, roll back to one."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from clusters import selectors
from clusters.compiler import inventory_snapshot
from dispatch import actions
from dispatch.choices import OPEN_STATUSES, DeploymentStatus
from dispatch.models import Revision
from dispatch.revisions import inventory_diff
from teams import policy


class ClusterRevisionMixin(LoginRequiredMixin):
    """A cluster of the user's teams (404 otherwise), from the URL's slug."""

    @cached_property
    def cluster(self):
        return get_object_or_404(selectors.visible_clusters(self.request.user), slug=self.kwargs["slug"])

    def revision(self, number) -> Revision:
        return get_object_or_404(Revision, cluster=self.cluster, number=number)


class RevisionListView(ClusterRevisionMixin, TemplateView):
    """Every applied revision of a cluster, newest first, with a form to compare two."""

    template_name = "agents/revision_list.html"

    def get_context_data(self, **kwargs):
        # One query for every row's outcome: its deployments counted by status; not the inventories (megabytes each).
        revisions = list(
            self.cluster.revisions.defer("inventory")
            .order_by("-number")
            .annotate(
                hosts=Count("deployments"),
                applied=Count("deployments", filter=Q(deployments__status=DeploymentStatus.APPLIED)),
                failed=Count("deployments", filter=Q(deployments__status=DeploymentStatus.FAILED)),
                open=Count("deployments", filter=Q(deployments__status__in=OPEN_STATUSES)),
            )[:200]
        )
        return super().get_context_data(
            cluster=self.cluster,
            revisions=revisions,
            rows=[(revision, *revision_outcome(revision)) for revision in revisions],
            can_rollback=policy.can(self.request.user, "edit", self.cluster),
            **kwargs,
        )


def revision_outcome(revision: Revision) -> tuple[str, str]:
    """(badge class, text) of how a revision's hosts took it, from the counts the list annotates."""
    if not revision.hosts:
        return "never_enrolled", "sent to no host"
    applied = f"applied on {revision.applied} of {revision.hosts} hosts"
    if revision.open:
        return "applying", f"in progress: {applied}"
    if revision.failed:
        return "failed", f"failed on {revision.failed} of {revision.hosts} hosts, {applied}"
    return "applied", applied


class RevisionDiffView(ClusterRevisionMixin, TemplateView):
    """What changes from revision `from` to revision `to` (or to the current inventory), side by side."""

    template_name = "agents/revision_diff.html"

    def get_context_data(self, **kwargs):
        numbers = {name: self.request.GET.get(name, "") for name in ("from", "to")}
        errors = [
            f"“{value}” is not a revision number."
            for value in numbers.values()
            if value and value != "current" and not value.isdigit()
        ]
        if errors or not numbers["from"].isdigit():
            return super().get_context_data(cluster=self.cluster, errors=errors or ["Choose a revision."], **kwargs)
        old = self.revision(int(numbers["from"]))
        if numbers["to"] in ("", "current"):
            new_label, new = "the current inventory", inventory_snapshot(self.cluster)
        else:
            new_revision = self.revision(int(numbers["to"]))
            new_label, new = f"revision {new_revision.number}", new_revision.inventory
        return super().get_context_data(
            cluster=self.cluster,
            old_label=f"revision {old.number}",
            new_label=new_label,
            rows=inventory_diff(old.inventory, new),
            **kwargs,
        )


class RevisionRollbackView(ClusterRevisionMixin, TemplateView):
    """Confirm, then restore the inventory to a revision (a new, audited change; apply sends it)."""

    template_name = "agents/revision_rollback.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "edit", self.cluster)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        revision = self.revision(self.kwargs["number"])
        rows = inventory_diff(inventory_snapshot(self.cluster), revision.inventory)
        return super().get_context_data(cluster=self.cluster, revision=revision, rows=rows, **kwargs)

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "edit", self.cluster)
        revision = self.revision(self.kwargs["number"])
        try:
            rows = actions.rollback_to_revision(acting_user=request.user, revision=revision)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return redirect("cluster-revision-rollback", slug=self.cluster.slug, number=revision.number)
        messages.success(
            request,
            f"Inventory restored to revision {revision.number} ({len(rows)} changes). "
            "Nothing has reached the hosts yet: plan and apply to send it.",
        )
        return redirect("cluster-history", slug=self.cluster.slug)
