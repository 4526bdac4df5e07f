"""Console pages that configure health checks: a service's check, and a real server's override."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from clusters import actions, selectors
from clusters.forms import HealthCheckForm
from clusters.models import HealthCheck
from teams import policy


class HealthCheckEditView(LoginRequiredMixin, View):
    """GET: the check's form; POST: save it through the action (or, for a real server, drop the override)."""

    for_real_server = False
    template_name = "health/health_check_form.html"

    def target(self, request, slug, pk):
        if self.for_real_server:
            visible = selectors.visible_real_servers(request.user).select_related("virtual_service__cluster")
            target = get_object_or_404(visible, pk=pk, virtual_service__cluster__slug=slug)
            cluster = target.virtual_service.cluster
        else:
            visible = selectors.visible_virtual_services(request.user).select_related("cluster")
            target = get_object_or_404(visible, pk=pk, cluster__slug=slug)
            cluster = target.cluster
        if not policy.can(request.user, policy.CHANGE, target):
            policy.require(request.user, policy.CHANGE, target)
        existing = HealthCheck.objects.filter(**{self.target_field: target}).first()
        return target, cluster, existing

    def form_options(self, target) -> dict:
        """What the form needs to offer only what fits: the service, and the real server of an override."""
        if self.for_real_server:
            return {"for_real_server": True, "service": target.virtual_service, "real_server": target}
        return {"for_real_server": False, "service": target}

    @property
    def target_field(self) -> str:
        return "real_server" if self.for_real_server else "virtual_service"

    def page(self, request, target, cluster, existing, form, status=200):
        context = {
            "target": target,
            "cluster": cluster,
            "existing": existing,
            "form": form,
            "for_real_server": self.for_real_server,
            "http_offered": form.offers("http", "https"),
            "udp_offered": form.offers("udp"),
            "dns_offered": form.offers("dns"),
            "tunnel_offered": "tunnel_path" in form.fields,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, slug, pk):
        target, cluster, existing = self.target(request, slug, pk)
        form = HealthCheckForm(instance=existing, **self.form_options(target))
        return self.page(request, target, cluster, existing, form)

    def post(self, request, slug, pk):
        target, cluster, existing = self.target(request, slug, pk)
        if "remove" in request.POST:
            if existing is not None:
                actions.delete_health_check(acting_user=request.user, health_check=existing)
            return redirect(cluster.get_absolute_url() + "#health")
        form = HealthCheckForm(request.POST, instance=existing, **self.form_options(target))
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.fields}
            try:
                actions.set_health_check(acting_user=request.user, **{self.target_field: target}, fields=fields)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                return redirect(cluster.get_absolute_url() + "#health")
        return self.page(request, target, cluster, existing, form, status=400)
