"""Dispatch models: revisions, deployments, enrollment tokens, broker users, report streams, kernel readings."""

from dispatch.models.broker import BrokerAccount
from dispatch.models.deployments import Deployment
from dispatch.models.enrollment import EnrollmentToken
from dispatch.models.ha import DirectorRole
from dispatch.models.readings import KernelReading
from dispatch.models.revisions import Revision
from dispatch.models.streams import ReportStream

__all__ = [
    "BrokerAccount",
    "Deployment",
    "DirectorRole",
    "EnrollmentToken",
    "KernelReading",
    "ReportStream",
    "Revision",
]
