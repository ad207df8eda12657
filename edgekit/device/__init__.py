"""Everything about a hardware target: its profile, this machine's readiness, reaching it."""
