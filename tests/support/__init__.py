"""Shared test support: real servers started on loopback (servers.py, kube_control_plane.py) and Viya client fakes (viya_fakes.py)."""
