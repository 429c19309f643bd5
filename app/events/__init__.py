"""The customer event log: what changed, recorded in the change's own transaction."""
