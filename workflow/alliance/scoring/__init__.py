"""Scoring the questionnaires: items to subscales and totals, per session and per patient."""
