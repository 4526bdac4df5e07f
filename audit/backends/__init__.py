"""Django's own database backends with the audit chain's commit step (audit/chain.py) added."""
