"""Services every device firmware shares: security, counters, logs, alerts, NVM."""
