"""Traffic models: the live state of each kernel series and its history."""

from traffic.models.samples import Sample
from traffic.models.series import HostFeed, Series

__all__ = ["HostFeed", "Sample", "Series"]
