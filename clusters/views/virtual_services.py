"""Virtual service pages: create, edit and delete a cluster's services."""

from django.contrib import messages
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property

from clusters import actions
from clusters.forms import VirtualServiceForm
from clusters.models import VirtualService
from clusters.overlaps import endpoint_overlaps
from clusters.views.base import ActionFormView, ClusterMixin, ConfirmView


def service_url(service: VirtualService) -> str:
    """The cluster page, scrolled to the service."""
    return f"{service.cluster.get_absolute_url()}#vs-{service.pk}"


class ServiceMixin(ClusterMixin):
    """Pages of one virtual service of the cluster in the URL (404 when it is another cluster's)."""

    @cached_property
    def service(self) -> VirtualService:
        return get_object_or_404(
            VirtualService.objects.select_related("cluster"), pk=self.kwargs["pk"], cluster=self.cluster
        )

    def policy_object(self):
        return self.service

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["service"] = self.service
        return context


class VirtualServiceCreateView(ClusterMixin, ActionFormView):
    """A new virtual service in the cluster."""

    template_name = "clusters/virtual_service_form.html"
    success_message = "Virtual service {obj} added. Next: add its real servers, then plan and apply."

    def policy_object(self):
        return self.cluster

    def make_form(self, data=None):
        return VirtualServiceForm(data, cluster=self.cluster)

    def run(self, form):
        return actions.create_virtual_service(
            acting_user=self.request.user, cluster=self.cluster, fields=form.changes()
        )

    def success_url(self, result) -> str:
        return service_url(result)

    def warnings(self, result) -> list[str]:
        return endpoint_overlaps([result], self.request.user).get(result.pk, [])


class VirtualServiceEditView(ServiceMixin, ActionFormView):
    """Change a virtual service (its TUN and DR real servers follow a port change)."""

    template_name = "clusters/virtual_service_form.html"
    success_message = "Virtual service {obj} saved."

    def make_form(self, data=None):
        return VirtualServiceForm(data, instance=self.service, cluster=self.service.cluster)

    def run(self, form):
        return actions.update_virtual_service(
            acting_user=self.request.user, virtual_service=self.service, changes=form.changes()
        )

    def success_url(self, result) -> str:
        return service_url(result)

    def warnings(self, result) -> list[str]:
        return endpoint_overlaps([result], self.request.user).get(result.pk, [])


class VirtualServiceDeleteView(ServiceMixin, ConfirmView):
    """Confirm, then delete a virtual service with its real servers."""

    template_name = "clusters/virtual_service_confirm_delete.html"

    def cancel_url(self) -> str:
        return service_url(self.service)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["real_servers"] = list(self.service.real_servers.all())
        return context

    def run(self) -> str:
        endpoint = self.service.endpoint
        actions.delete_virtual_service(acting_user=self.request.user, virtual_service=self.service)
        messages.success(
            self.request, f"Virtual service {endpoint} deleted. Plan and apply to remove it from the directors."
        )
        return self.cluster.get_absolute_url()
