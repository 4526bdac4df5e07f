"""Alerts: tell the people on call about health transitions, drift, failed applies and offline agents.

Where the events come from — the audit history, read from above — is explained in `alerts/grouping.py`.
"""
