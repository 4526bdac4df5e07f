"""The audit history: an append-only, hash-chained record of every change, apply and sign-in."""
