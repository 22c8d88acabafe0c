"""Synthetic cohorts with a known truth and the simulation study of the estimators: the generator
(`synthetic`), the grid of conditions (`conditions`) and the study itself (`study`: replications,
estimands, performance). It uses the stages; no stage uses it."""
