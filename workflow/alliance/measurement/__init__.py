"""How well the alliance is measured: reliability, factor structure, therapist ICC, agreement."""
