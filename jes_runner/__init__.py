"""jes-runner: measure SAS Viya batch jobs sequentially versus concurrently."""

__version__ = "0.1.0"
