"""Drain a director before maintenance, or undrain it: a confirmation page, then one apply (docs/ha.md)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from clusters.choices import HostRole
from dispatch import actions
from dispatch.preview import preview_apply
from dispatch.unapplied import unapplied_of
from dispatch.views.revisions import ClusterRevisionMixin
from teams import policy


class DirectorDrainView(ClusterRevisionMixin, TemplateView):
    """Confirm, then drain (or undrain) one director of the cluster and apply; on to the apply's progress."""

    template_name = "agents/drain_confirm.html"
    drained = True

    def director(self):
        return get_object_or_404(
            self.cluster.cluster_hosts.select_related("host"), pk=self.kwargs["pk"], role=HostRole.DIRECTOR
        )

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "drain", self.cluster)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        director = self.director()
        others = self.cluster.cluster_hosts.filter(role=HostRole.DIRECTOR, drained=False).exclude(pk=director.pk)
        return super().get_context_data(
            cluster=self.cluster,
            director=director,
            drained=self.drained,
            others=list(others.select_related("host")),
            groups=list(self.cluster.vip_groups.all()),
            unapplied=unapplied_of([self.cluster], shortcut=True)[self.cluster.pk],
            preview=preview_apply(self.cluster),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "drain", self.cluster)
        director = self.director()
        try:
            revision = actions.drain_director(acting_user=request.user, cluster_host=director, drained=self.drained)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(self.cluster.get_absolute_url())
        verb = "drained" if self.drained else "back in service"
        messages.success(request, f"{director.host} is {verb}: revision {revision.number} is on its way.")
        return redirect("cluster-revision-progress", slug=self.cluster.slug, number=revision.number)
