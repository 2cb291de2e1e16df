"""Shared test support: real servers started on loopback (servers.py) and Viya client fakes (viya_fakes.py)."""
