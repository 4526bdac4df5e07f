"""Moving a cluster to another team: a cluster page reached from its team's page (owners of both teams only).

Here rather than in teams/: it acts on a cluster (clusters.actions.transfer_cluster), and teams sit below
clusters in the console's layers (.importlinter).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from clusters import actions
from clusters.models import Cluster
from teams import policy
from teams.choices import TeamRole
from teams.forms import TransferForm
from teams.views import TeamMixin, error_text


class ClusterTransferView(TeamMixin, TemplateView):
    """GET asks where to, POST moves a cluster to another team the user owns (owners of both teams only)."""

    template_name = "teams/cluster_transfer.html"

    @cached_property
    def cluster(self) -> Cluster:
        return get_object_or_404(self.team.clusters.all(), slug=self.kwargs["cluster"])

    def form(self, data=None) -> TransferForm:
        targets = policy.teams_where(self.request.user, TeamRole.OWNER).exclude(pk=self.team.pk)
        return TransferForm(data, teams=targets)

    def get(self, request, *args, **kwargs):
        policy.require(request.user, "transfer", self.cluster)
        return self.render_to_response({"team": self.team, "cluster": self.cluster, "form": self.form()})

    def post(self, request, *args, **kwargs):
        policy.require(request.user, "transfer", self.cluster)
        form = self.form(request.POST)
        if form.is_valid():
            try:
                cluster = actions.transfer_cluster(
                    acting_user=request.user, cluster=self.cluster, team=form.cleaned_data["team"]
                )
            except ValidationError as exc:
                form.add_error("team", error_text(exc))
            else:
                messages.success(request, f"Cluster “{cluster}” now belongs to team “{cluster.team}”.")
                return redirect(cluster.team)
        context = {"team": self.team, "cluster": self.cluster, "form": form}
        return self.render_to_response(context, status=400)
