"""Forms of the alerts page: a channel, a rule, a silence."""

from datetime import timedelta

from django import forms

from alerts.choices import Severity
from alerts.events import EVENT_TYPES
from alerts.models import Channel
from clusters.models import Cluster
from teams.models import Team

#: Silence lengths offered in the console (the API takes any end up to 30 days).
SILENCE_MINUTES = [(30, "30 minutes"), (60, "1 hour"), (240, "4 hours"), (720, "12 hours"), (1440, "1 day")]
EVENT_CHOICES = [(name, kind.label) for name, kind in EVENT_TYPES.items()]


class ChannelForm(forms.ModelForm):
    """A new channel: e-mail addresses, or a webhook URL (its signing secret is made and shown once)."""

    class Meta:
        model = Channel
        fields = ["name", "kind", "addresses", "url", "rate_limit_per_hour"]
        widgets = {"addresses": forms.Textarea(attrs={"rows": 2}), "url": forms.URLInput()}


class RuleForm(forms.Form):
    """A new rule: which events, in which clusters, how severe, to which channels, grouped how long."""

    name = forms.CharField(max_length=100)
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, required=False, help_text="None chosen: every type.", widget=forms.CheckboxSelectMultiple
    )
    clusters = forms.ModelMultipleChoiceField(
        queryset=Cluster.objects.none(), required=False, help_text="None chosen: every cluster of the team."
    )
    min_severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.WARNING)
    channels = forms.ModelMultipleChoiceField(queryset=Channel.objects.none())
    group_seconds = forms.IntegerField(min_value=0, max_value=3600, initial=30, label="Grouping window (s)")

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clusters"].queryset = team.clusters.order_by("name")  # type: ignore[attr-defined]
        self.fields["channels"].queryset = team.alert_channels.order_by("name")  # type: ignore[attr-defined]


class SilenceForm(forms.Form):
    """Silence the team's alerts for a while (of one cluster, of one type, when chosen)."""

    minutes = forms.TypedChoiceField(choices=SILENCE_MINUTES, coerce=int, initial=60, label="For")
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.none(), required=False, empty_label="every cluster")
    event_type = forms.ChoiceField(choices=[("", "every event type"), *EVENT_CHOICES], required=False)
    reason = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = team.clusters.order_by("name")  # type: ignore[attr-defined]

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["minutes"])
