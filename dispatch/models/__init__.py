"""Dispatch models: revisions, deployments to hosts, enrollment tokens, agents' broker users, report streams."""

from dispatch.models.broker import BrokerAccount
from dispatch.models.deployments import Deployment
from dispatch.models.enrollment import EnrollmentToken
from dispatch.models.ha import DirectorRole
from dispatch.models.revisions import Revision
from dispatch.models.streams import ReportStream

__all__ = ["BrokerAccount", "Deployment", "DirectorRole", "EnrollmentToken", "ReportStream", "Revision"]
