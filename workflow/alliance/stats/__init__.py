"""The estimators this project writes itself, each tested against a published value."""
