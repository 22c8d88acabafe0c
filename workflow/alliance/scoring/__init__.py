"""The scored tables: alliance per session and satisfaction per patient (by `alliance.instruments.items`),
with their summaries and descriptives."""
