"""The embedded SAS Viya emulator (see docs/ARCHITECTURE.md, "Emulator contract").

    from jes_runner.emulator import Emulator
    with Emulator() as emu:          # default scenario, a free port
        emu.url, emu.username, emu.password
        emu.ground_truth(); emu.set_faults({...})

Modules: scenario (file model), model (discrete-event cluster), filters (SAS
filter language), envelope (collections), tokens (SASLogon), faults, views
(JSON shapes), catalog (definitions, contexts), api (endpoints), server (HTTP),
app (Emulator), clock, calibration (replay of the measured runs), cli.
"""

from jes_runner.emulator.app import DEFAULT_PASSWORD, DEFAULT_USER, Emulator
from jes_runner.sim.scenario import Scenario, default_scenario, load_scenario

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "Emulator",
    "Scenario",
    "default_scenario",
    "load_scenario",
]
