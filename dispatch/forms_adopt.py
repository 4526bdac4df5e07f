"""The form of the adopt page (dispatch/views/adopt.py): it only parses input; dispatch.actions.adopt decides."""

from django import forms

from clusters.forms_interchange import ActionErrorsForm
from clusters.models import Cluster
from teams.choices import TeamRole
from teams.policy import teams_where


class AdoptForm(ActionErrorsForm):
    """Into which cluster (an existing one, or a new one of a team), which services, and whether to update."""

    cluster: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,
        to_field_name="slug",
        required=False,
        empty_label="A new cluster (name it below)",
        help_text="A cluster you operate, or a new one.",
    )
    team: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None, required=False, help_text="The new cluster's team."
    )
    name = forms.CharField(max_length=100, required=False, help_text="The new cluster's name.")
    slug = forms.SlugField(max_length=100, required=False, help_text="The new cluster's slug (in URLs, e.g. web-fra).")
    services = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Services left unticked stay in the kernel, untouched by lvsweb (not adopted).",
    )
    update_existing = forms.BooleanField(
        required=False,
        label="Update existing services",
        help_text="Services already in the cluster with other settings take the kernel's (else: a conflict).",
    )

    def __init__(self, *args, user, services, **kwargs):
        super().__init__(*args, **kwargs)
        teams = teams_where(user, TeamRole.OPERATOR)
        self.fields["cluster"].queryset = Cluster.objects.filter(team__in=teams).order_by("name")
        self.fields["team"].queryset = teams.order_by("name")
        self.fields["services"].choices = [(text, text) for text in services]
        self.fields["services"].initial = services
        self.all_services = services

    def action_options(self) -> dict:
        """The keyword arguments of preview_adopt/commit_adopt (after is_valid())."""
        data = self.cleaned_data
        new = None
        if data["cluster"] is None:
            new = {"team": data["team"], "name": data["name"], "slug": data["slug"]}
        return {
            "cluster": data["cluster"],
            "new_cluster": new,
            "exclude": frozenset(self.all_services) - set(data["services"]),
            "update_existing": data["update_existing"],
        }
