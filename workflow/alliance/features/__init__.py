"""Per-patient and per-session alliance features, ruptures included, without look-ahead."""
