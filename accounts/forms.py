"""Forms of the account pages."""

from datetime import timedelta

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("30", "in 30 days"),
    ("90", "in 90 days"),
    ("365", "in a year"),
    ("never", "never"),
]


class ApiTokenForm(forms.Form):
    """A new personal API token: what it is for, when it expires, and whether it may only read."""

    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “terraform on ci-01”.")
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires")
    read_only = forms.BooleanField(required=False, label="Read-only (can never change anything)")

    def expires_at(self):
        """The expiry as a datetime, or None for a token that never expires."""
        days = self.cleaned_data["expires"]
        return None if days == "never" else timezone.now() + timedelta(days=int(days))
