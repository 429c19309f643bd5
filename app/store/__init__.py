"""Storage plumbing: engine lifecycle, connections, migrations."""
