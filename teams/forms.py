"""Forms of the team pages; they only parse input, the actions decide."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_text_html

from teams.choices import TeamRole
from teams.models import Team


class TeamForm(forms.ModelForm):
    """A new team's name and slug."""

    class Meta:
        model = Team
        fields = ["name", "slug"]


class InviteForm(forms.Form):
    """Whom to invite, and with which role."""

    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=TeamRole.choices, initial=TeamRole.VIEWER)


class RoleForm(forms.Form):
    """A member's new role."""

    role = forms.ChoiceField(choices=TeamRole.choices)


class TransferForm(forms.Form):
    """The team a cluster moves to: one of the other teams the user owns."""

    team = forms.ModelChoiceField(queryset=Team.objects.none(), to_field_name="slug", label="New team")

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams


class SignUpForm(forms.Form):
    """A new account from an invitation: a user name and a password typed twice."""

    username = forms.CharField(max_length=150, label="User name")
    password1 = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Password",
        help_text=password_validators_help_text_html(),
        strip=False,
    )
    password2 = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Password again",
        strip=False,
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This user name is taken; choose another.")
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned
