"""Console pages to adopt a live host: ask its agent what its kernel runs, see the proposal, confirm.

"Adopt what this kernel runs" on a host's page sends the agent a `read` command and opens the reading's page,
which waits for the answer, then proposes the inventory (into which cluster, which services) with a preview: the
rows (create, unchanged, conflict) and the operations the adopting apply will run on the host — none in its
kernel when the inventory matches it. Confirming saves it all and applies the cluster (docs/operating.md#adopt).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils.functional import cached_property
from django.views.generic import TemplateView, View
from lvsweb_agent.adopt import ReadingError, parse_reading

from clusters.views.base import checked_dispatch
from dispatch.actions.adopt import AdoptRejected, commit_adopt, preview_adopt, request_reading
from dispatch.actions.readings import reading_status
from dispatch.forms_adopt import AdoptForm
from dispatch.models import KernelReading
from dispatch.views.hosts import HostMixin
from teams import policy


class HostAdoptReadView(HostMixin, View):
    """POST: ask the host's agent what its kernel runs, then show the reading's page."""

    def post(self, request, *args, **kwargs):
        try:
            reading = request_reading(acting_user=request.user, host=self.host)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("host-detail", pk=self.host.pk)
        return redirect("host-adopt", pk=self.host.pk, reading=reading.pk)


class HostAdoptView(HostMixin, TemplateView):
    """A reading: waiting for it, or its proposal with the preview and the confirmation."""

    template_name = "hosts/host_adopt.html"
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def reading(self) -> KernelReading:
        return get_object_or_404(KernelReading, pk=self.kwargs["reading"], host=self.host)

    @cached_property
    def services(self) -> list[str]:
        if self.reading.reading is None:
            return []
        try:
            return [str(service.key) for service in parse_reading(self.reading.reading).services]
        except ReadingError:
            return []

    def check_permission(self) -> None:
        policy.require(self.request.user, "edit", self.host)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()  # to the sign-in page first, as every console page
        return checked_dispatch(self, super(), request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        status, error = reading_status(self.reading)
        kwargs.setdefault("form", AdoptForm(user=self.request.user, services=self.services))
        parsed = parse_reading(self.reading.reading) if status == KernelReading.Status.READ else None
        kwargs["reading"] = self.reading  # the object, not the URL's number
        return super().get_context_data(host=self.host, status=status, error=error, parsed=parsed, **kwargs)

    def post(self, request, *args, **kwargs):
        form = AdoptForm(request.POST, user=request.user, services=self.services)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        commit = request.POST.get("action") == "commit"
        options = {"acting_user": request.user, "reading": self.reading, **form.action_options()}
        try:
            result = commit_adopt(**options) if commit else preview_adopt(**options)
        except AdoptRejected as rejected:
            result = rejected.result
            messages.error(request, "Nothing was adopted: it conflicts with the inventory (see below).")
        except ValidationError as exc:
            form.add_action_errors(exc)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        else:
            if result.revision is not None:
                messages.success(
                    request,
                    f"Adopted into {result.cluster.name}: {result.imported.summary()}. "
                    f"Revision {result.revision.number} is being applied.",
                )
                return redirect("cluster-revision-progress", slug=result.cluster.slug, number=result.revision.number)
        return self.render_to_response(
            self.get_context_data(form=form, result=result), status=200 if result.ok else 400
        )
