"""Forms of the host pages: they only parse input; the actions validate and save."""

from django import forms
from django.core.exceptions import ValidationError

from clusters.choices import HostRole
from clusters.models import Host
from clusters.selectors import visible_clusters
from teams.choices import TeamRole
from teams.policy import teams_where

HOST_FIELDS = ("hostname", "management_address", "other_addresses", "vip_interface", "uplinks", "description")


class HostForm(forms.ModelForm):
    """A host's name, address and interfaces; on creation also the team that registers it."""

    class Meta:
        model = Host
        fields = ("team", *HOST_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["team"]
        else:
            self.fields["team"].queryset = teams_where(user, TeamRole.OPERATOR).order_by("name")
            self.fields["team"].help_text = "Its operators may change, enroll and revoke the host."

    def _post_clean(self):
        # The action validates the whole object (and says so per field); the form does not save it twice.
        pass

    def add_action_errors(self, error: ValidationError) -> None:
        """Show an action's refusal next to the fields it names."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, error)


class HostRoleForm(forms.Form):
    """Give the host a role in one of the user's clusters."""

    cluster = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    role = forms.ChoiceField(choices=HostRole.choices)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = visible_clusters(user).order_by("name")
