"""Dispatch models: revisions, deployments to hosts, enrollment tokens, agents' broker users, report streams."""

from agents.models.broker import BrokerAccount
from agents.models.deployments import Deployment
from agents.models.enrollment import EnrollmentToken
from agents.models.revisions import Revision
from agents.models.streams import ReportStream

__all__ = ["BrokerAccount", "Deployment", "EnrollmentToken", "ReportStream", "Revision"]
