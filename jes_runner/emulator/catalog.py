"""The static catalog: job definitions and compute contexts, with stable ids.

Ids are UUID5s of the names (unless the scenario gives one), so the same
scenario always serves the same ids and a runner config can pin them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from jes_runner.sim.scenario import Scenario

_NS = uuid.UUID("6f1f6c1e-2f7b-4c39-9a55-0e8f3d6b9a10")


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}/{name}"))


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    description: str
    code: str


@dataclass(frozen=True)
class Context:
    id: str
    name: str
    description: str
    queue: str


class Catalog:
    def __init__(self, scenario: Scenario) -> None:
        self.definitions = [
            Definition(d.id or stable_id("definition", d.name), d.name, d.description, d.code)
            for d in scenario.definition_specs()
        ]
        self.contexts = [
            Context(c.id or stable_id("context", c.name), c.name, c.description, c.queue)
            for c in scenario.contexts
        ]
        self.definition_by_id = {d.id: d for d in self.definitions}
        self.context_by_id = {c.id: c for c in self.contexts}
        self.context_by_name = {c.name: c for c in self.contexts}
