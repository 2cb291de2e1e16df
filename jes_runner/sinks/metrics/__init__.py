"""Prometheus metrics of a run: the registry builder (:mod:`.registry`) and the Pushgateway transport (:mod:`.push`)."""
