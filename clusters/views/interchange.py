"""Console pages to import rules into a cluster (preview, then commit) and to export its rules as text.

Import: an operator pastes or uploads ipvsadm-save text or keepalived.conf blocks and gets a preview — what
will be created or changed, errors by line, keywords not imported. The Commit button sends the same text
again; the action checks it all again and saves it as one audited change, or nothing. Export: every member
can download the cluster's rules as an ipvsadm rules file or keepalived.conf.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.views.generic import TemplateView

from clusters.actions.imports import ImportRejected, commit_import, preview_import
from clusters.exports import cluster_rules, export_filename, export_text
from clusters.forms_interchange import ImportForm
from clusters.views.base import ClusterMixin, checked_dispatch
from teams import policy

EXPORT_FORMATS = {"ipvsadm": "ipvsadm-save", "keepalived": "keepalived.conf"}


class CheckedView(TemplateView):
    """Refuses an unsupported method (405), then asks the policy (`check_permission`), after the sign-in check."""

    def check_permission(self) -> None:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        return checked_dispatch(self, super(), request, *args, **kwargs)


class ClusterImportView(ClusterMixin, CheckedView):
    """Paste or upload rules, see the preview, commit."""

    template_name = "clusters/interchange/import.html"
    http_method_names = ["get", "post", "head", "options"]

    def check_permission(self) -> None:
        policy.require(self.request.user, "edit", self.cluster)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", ImportForm())
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        options = {
            "acting_user": request.user,
            "cluster": self.cluster,
            "text": form.cleaned_data["text"],
            "format": form.cleaned_data["format"],
            "update_existing": form.cleaned_data["update_existing"],
        }
        commit = request.POST.get("action") == "commit"
        stale = commit and form.cleaned_data.get("previewed") != form.digest()
        try:
            run = commit_import if commit and not stale else preview_import
            result = run(**options)
        except ImportRejected as rejected:
            result = rejected.result
            messages.error(
                request, "Nothing was imported: the rules have errors (see below). Correct them and try again."
            )
        except ValidationError as exc:
            form.add_action_errors(exc)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        else:
            if result.committed:
                messages.success(
                    request,
                    f"Imported into {self.cluster.name}: {result.summary()}. Plan and apply to send it to the hosts.",
                )
                return HttpResponseRedirect(self.cluster.get_absolute_url())
        if stale:
            messages.warning(
                request, "The rules or options changed since the preview: check this preview, then commit."
            )
        data = form.data.copy()
        data["previewed"] = form.digest() if result.ok else ""
        shown = ImportForm(data)
        shown.is_valid()
        return self.render_to_response(
            self.get_context_data(form=shown, result=result), status=200 if result.ok else 400
        )


class ClusterExportView(ClusterMixin, CheckedView):
    """The cluster's rules as text, to read here or download (`?format=ipvsadm|keepalived`)."""

    template_name = "clusters/interchange/export.html"
    http_method_names = ["get", "head", "options"]

    def check_permission(self) -> None:
        policy.require(self.request.user, policy.VIEW, self.cluster)

    def get(self, request, *args, **kwargs):
        format = request.GET.get("format")
        if format in EXPORT_FORMATS:
            response = HttpResponse(export_text(self.cluster, format), content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{export_filename(self.cluster, format)}"'
            return response
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        rules = cluster_rules(self.cluster)
        exports = [
            {
                "format": format,
                "label": label,
                "text": export_text(self.cluster, format, rules),
                "filename": export_filename(self.cluster, format),
            }
            for format, label in EXPORT_FORMATS.items()
        ]
        return super().get_context_data(exports=exports, empty=not rules, **kwargs)
