"""Everything a reader sees: the HTML report and its sections, the figures, the feedback pages and the
validation page.

`document.build_report` assembles the report from its sections (`cohort`, `measurement`, `analysis`,
`methods`), in the words of `words`, with the numbers formatted by `format` and the tables offered as CSV
(`downloads`); `figures` draws the figures, `feedback` the per-therapist pages, `validation` renders the
validation report of the ingest stage.
"""
