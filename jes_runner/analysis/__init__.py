"""Analysis over results documents: run thresholds, run-vs-run regressions, concurrency sweeps."""
