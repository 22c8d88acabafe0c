"""Pooling across sites without moving patient data (issue 19; ANALYSIS_PLAN.md, section 11).

Each site runs the same workflow on its own data, then `make share` writes a bundle of aggregates
(`bundle`: effects with their SEs, statuses, suppressed analysis flows, the instrument's reliability,
hashes and versions; no row-level data, no count under the minimum cell size) and a plain-words list of
what leaves the site. The coordinator runs `make pool` on the bundles: they are checked for compatibility
and each effect is pooled by two-stage random-effects meta-analysis (`pooling`), with a report
(`report`). Stage after `report` (it borrows the report's figure style) and before `simulation` (whose
pooling check uses it).
"""
