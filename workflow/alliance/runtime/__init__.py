"""Run tooling, apart from the science: the jobs' logs and console errors (`runlog`), the manifest and
`make reproduce` (`manifest`, `reproduce`), outputs left by a failed run (`stale`), the code's
fingerprint that re-runs jobs after a code change (`fingerprint`), `make bench`
(`bench`) and the results accessor of the notebooks (`results`). It uses the stages; no stage uses it."""
