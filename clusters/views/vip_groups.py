"""VIP group pages: create, edit and remove a cluster's VRRP instances (docs/ha.md)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property

from clusters import actions
from clusters.forms import VipGroupForm
from clusters.models import VipGroup
from clusters.views.base import ActionFormView, ClusterMixin


def groups_url(group: VipGroup) -> str:
    """The cluster page, scrolled to its HA section."""
    return f"{group.cluster.get_absolute_url()}#ha"


class VipGroupCreateView(ClusterMixin, ActionFormView):
    """A new VIP group in the cluster (operators)."""

    template_name = "clusters/vip_group_form.html"
    success_message = "VIP group {obj} added. Next: put services in it (edit a service), then plan and apply."

    def policy_object(self):
        return self.cluster

    def make_form(self, data=None):
        return VipGroupForm(data)

    def run(self, form):
        return actions.create_vip_group(acting_user=self.request.user, cluster=self.cluster, fields=form.changes())

    def success_url(self, result) -> str:
        return groups_url(result)


class VipGroupEditView(ClusterMixin, ActionFormView):
    """Change a VIP group's VRRP settings, or remove it when it has no services (operators)."""

    template_name = "clusters/vip_group_form.html"
    success_message = "VIP group {obj} saved; plan and apply to send it to the directors."

    @cached_property
    def group(self) -> VipGroup:
        return get_object_or_404(VipGroup.objects.select_related("cluster"), pk=self.kwargs["pk"], cluster=self.cluster)

    def policy_object(self):
        return self.group

    def make_form(self, data=None):
        return VipGroupForm(data, instance=self.group)

    def get_context_data(self, **kwargs):
        return super().get_context_data(group=self.group, **kwargs)

    def post(self, request, *args, **kwargs):
        if "remove" not in request.POST:
            return super().post(request, *args, **kwargs)
        try:
            actions.delete_vip_group(acting_user=request.user, vip_group=self.group)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(request.path)
        messages.success(request, f"VIP group {self.group} removed.")
        return HttpResponseRedirect(f"{self.cluster.get_absolute_url()}#ha")

    def run(self, form):
        return actions.update_vip_group(acting_user=self.request.user, vip_group=self.group, changes=form.changes())

    def success_url(self, result) -> str:
        return groups_url(result)
