"""Console pages of dispatch: Plan (the diff per host), Apply with its live progress, Reconcile, deployments."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView, View

from clusters import selectors
from dispatch import actions
from dispatch.actions.deployments import sent_summary
from dispatch.choices import DeploymentKind, SyncState
from dispatch.models import Deployment
from dispatch.preview import add_connections, preview_apply, unconfigured
from dispatch.views.revisions import ClusterRevisionMixin
from teams import policy


def _refusal_text(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", [str(exc)]))


def latest_plans(cluster) -> list[Deployment]:
    """The newest agent plan of each host of the cluster (what the agents last said they would do)."""
    newest: dict[int, Deployment] = {}
    for deployment in (
        Deployment.objects.filter(cluster=cluster, kind=DeploymentKind.PLAN)
        .select_related("host")
        .order_by("-id")[:500]
    ):
        newest.setdefault(deployment.host_id, deployment)
    return sorted(newest.values(), key=lambda deployment: deployment.host.hostname)


class LiveClusterMixin(ClusterRevisionMixin):
    """Pages that follow the cluster's websocket; they render the state as it is, so a reload is correct."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            cluster=self.cluster,
            live_labels={"states": dict(SyncState.choices)},
            can_operate=policy.can(self.request.user, "apply", self.cluster),
            **kwargs,
        )


class PlanView(LiveClusterMixin, TemplateView):
    """Per host, the operations an apply of the current inventory would run, as a diff; and the agents' plans."""

    template_name = "agents/plan.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            preview=add_connections(preview_apply(self.cluster)),
            agent_plans=latest_plans(self.cluster),
            **unconfigured(self.cluster),
            can_change=policy.can(self.request.user, policy.CHANGE, self.cluster),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        """Ask every host's agent for its plan against its real kernel (a dry run)."""
        try:
            deployments = actions.plan_cluster(acting_user=request.user, cluster=self.cluster)
        except ValidationError as exc:
            messages.error(request, _refusal_text(exc))
        else:
            messages.success(request, f"Plan requested from {len(deployments)} hosts; their answers appear below.")
        return redirect("cluster-plan", slug=self.cluster.slug)


class ApplyView(LiveClusterMixin, TemplateView):
    """Confirm, then make the current inventory a revision and send it; on to the live progress."""

    template_name = "agents/apply_confirm.html"

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "apply", self.cluster)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(preview=preview_apply(self.cluster), **kwargs)

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "apply", self.cluster)
        try:
            revision = actions.apply_cluster(acting_user=request.user, cluster=self.cluster)
        except ValidationError as exc:
            messages.error(request, _refusal_text(exc))
            return redirect("cluster-plan", slug=self.cluster.slug)
        deployments = list(revision.deployments.select_related("host").order_by("host__hostname"))
        summary, everyone = sent_summary(deployments)
        if everyone:
            messages.success(request, f"Revision {revision.number} is on its way to {len(deployments)} hosts.")
        else:  # name the hosts that got nothing, and why, rather than count them as on their way
            messages.warning(request, f"Revision {revision.number} {summary}.")
        return redirect("cluster-revision-progress", slug=self.cluster.slug, number=revision.number)


class RevisionProgressView(LiveClusterMixin, TemplateView):
    """A revision's deployments, one per host: pending → applying → applied | failed, live."""

    template_name = "agents/revision_progress.html"

    def get_context_data(self, **kwargs):
        revision = self.revision(self.kwargs["number"])
        deployments = list(revision.deployments.select_related("host").order_by("host__hostname", "-id"))
        summary, everyone = sent_summary(deployments)
        return super().get_context_data(
            revision=revision, deployments=deployments, not_sent_summary="" if everyone else summary, **kwargs
        )


class DeploymentDetailView(LiveClusterMixin, TemplateView):
    """One host's part of a plan, apply or reconcile: operations, warnings, the kernel's error."""

    template_name = "agents/deployment_detail.html"

    def get_context_data(self, **kwargs):
        deployment = get_object_or_404(
            Deployment.objects.select_related("host", "revision"), cluster=self.cluster, pk=self.kwargs["pk"]
        )
        return super().get_context_data(deployment=deployment, **kwargs)


class ReconcileView(ClusterRevisionMixin, View):
    """Ask a host's agent to re-apply its document (repairs drift); on to that deployment."""

    def post(self, request, *args, **kwargs):
        host = get_object_or_404(selectors.visible_hosts(request.user), hostname=self.kwargs["hostname"])
        try:
            deployment = actions.reconcile_host(acting_user=request.user, cluster=self.cluster, host=host)
        except ValidationError as exc:
            messages.error(request, _refusal_text(exc))
            return redirect("cluster-plan", slug=self.cluster.slug)
        if deployment.error:
            messages.error(request, f"{host}: {deployment.error}")
        else:
            messages.success(request, f"Reconcile sent to {host}.")
        return redirect("cluster-deployment", slug=self.cluster.slug, pk=deployment.pk)
