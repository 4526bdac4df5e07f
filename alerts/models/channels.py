"""Alert channels: where a team's alerts go (e-mail addresses, a webhook)."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.urls import reverse

from alerts.choices import ChannelKind
from alerts.webhooks import URL_MAX, url_problem


def split_addresses(text: str) -> list[str]:
    """The addresses of an e-mail channel: comma-, space- or line-separated."""
    return [part for part in text.replace(",", " ").split() if part]


class Channel(models.Model):
    """One destination of a team's alerts, with its own rate limit and a record of its failures."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="alert_channels",
    )
    name = models.CharField(
        max_length=100,
    )
    kind = models.CharField(
        max_length=10,
        choices=ChannelKind.choices,
    )
    addresses = models.TextField(
        blank=True,
        help_text="E-mail channels: the addresses, separated by commas or new lines.",
    )
    url = models.CharField(
        max_length=URL_MAX,
        blank=True,
        help_text="Webhook channels: the http:// or https:// URL the JSON is POSTed to.",
    )
    secret_encrypted = models.TextField(
        blank=True,
        help_text="Webhook channels: the signing secret, encrypted (alerts/secrets.py); shown once, at creation.",
    )
    rate_limit_per_hour = models.PositiveIntegerField(
        default=30,
        help_text="The most messages sent to this channel in any hour; past it, messages are logged, not sent.",
    )
    enabled = models.BooleanField(
        default=True,
    )
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The first failed delivery since the last one that went through.",
    )
    last_error = models.TextField(
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["team_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="%(app_label)s_%(class)s_unique_team_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def get_absolute_url(self) -> str:
        return reverse("alerts-team", kwargs={"slug": self.team.slug}) + f"#channel-{self.pk}"

    @property
    def address_list(self) -> list[str]:
        return split_addresses(self.addresses)

    def clean(self) -> None:
        if self.kind == ChannelKind.EMAIL:
            addresses = self.address_list
            if not addresses:
                raise ValidationError({"addresses": "Give at least one e-mail address."})
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"addresses": f"“{address}” is not an e-mail address."}) from None
            if self.url:
                raise ValidationError({"url": "An e-mail channel has no URL."})
        elif self.kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK):
            problem = url_problem(self.url)
            if problem:
                raise ValidationError({"url": problem})
            if self.addresses:
                raise ValidationError({"addresses": "A webhook channel has no e-mail addresses."})
