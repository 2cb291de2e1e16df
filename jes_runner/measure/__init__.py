"""Measuring: the plan, the phase executor, job records, orchestrator correlation, preflight, statistics."""
