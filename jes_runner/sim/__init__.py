"""The cluster model on a virtual clock: scenario, model, calibration replay, fidelity statistics.

A bottom layer: the emulator serves this model over HTTP, what-if analysis replays it for
other configurations. It imports neither of them (nor any runner code).
"""
