"""Input of the traffic pages: the chart's history query."""

from django import forms

from clusters.models import RealServer, VirtualService
from traffic.live import RANGES


class HistoryQuery(forms.Form):
    """Which real server (none: the service's totals) and range a chart asks for (default: 5 minutes)."""

    real_server = forms.ModelChoiceField(queryset=RealServer.objects.none(), required=False)
    range = forms.ChoiceField(choices=[(key, key) for key in RANGES], required=False)

    def __init__(self, *args, service: VirtualService, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.fields["real_server"].queryset = RealServer.objects.filter(virtual_service=service)
        self.fields["real_server"].error_messages["invalid_choice"] = f"Not a real server of {service.endpoint}."

    def clean_range(self) -> str:
        return self.cleaned_data.get("range") or next(iter(RANGES))
