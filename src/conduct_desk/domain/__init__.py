"""The pure model: cases, reports, steps, policy and the ladder engine (stdlib only)."""
