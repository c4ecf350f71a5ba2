"""The training plan of one run: which examples, in which order, in which stages.

Pure Python (no torch), so it is tested and read on its own:

* ``sequential``: the build's order (module order), one stage;
* ``shuffled``: with ``permutation: per_seed`` (the default) the build's examples are permuted by
  ``random.Random("babyctl-order:<training seed>")`` -- each training seed sees its own order,
  the same seed always the same one, so the order effect is not one fixed permutation;
  ``permutation: fixed`` keeps the build's order (drawn once with the condition's ``seed``);
* ``staged``: module after module (consecutive runs of ``metadata.module`` in the build's order),
  each stage with its own step budget (``conditions.<c>.stage_steps[module]``, else
  ``training.max_steps``), an adapter checkpoint after each.

The plan goes into the adapter's provenance: the order as example ids (and its sha256), and the
stage boundaries.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from ..errors import InputError
from ..schemas.params import Condition, Training


@dataclass(frozen=True)
class Stage:
    name: str  # the module, or "all"
    start: int  # index of the first example in the run's order
    end: int  # one past the last
    max_steps: int  # -1: training.epochs over the stage's examples


@dataclass
class Plan:
    order: list[str]  # example ids, in training order
    permutation: str  # "build" (the build's order) or "per_seed:<seed>"
    stages: list[Stage] = field(default_factory=list)

    @property
    def order_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.order).encode()).hexdigest()

    def provenance(self) -> dict:
        return {"permutation": self.permutation, "order_sha256": self.order_sha256, "order": self.order,
                "stages": [{"name": s.name, "first_example": s.start, "end_example": s.end,
                            "max_steps": s.max_steps} for s in self.stages]}


def order_seed(seed: int) -> str:
    """The RNG seed of a training seed's permutation (a string: stable across Python versions)."""
    return f"babyctl-order:{seed}"


def make_plan(ids: list[str], modules: list[str | None], condition: Condition, training: Training,
              seed: int, *, condition_key: str = "") -> Plan:
    """The plan for examples ``ids`` (build order, with their modules) under ``condition``."""
    order = list(range(len(ids)))
    permutation = "build"
    if condition.order == "shuffled" and condition.permutation == "per_seed":
        random.Random(order_seed(seed)).shuffle(order)
        permutation = f"per_seed:{seed}"
    ordered = [ids[i] for i in order]
    if condition.order != "staged":
        return Plan(ordered, permutation, [Stage("all", 0, len(ids), training.max_steps)])
    stages: list[Stage] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or modules[i] != modules[start]:
            name = modules[start]
            if not name:
                raise InputError(f"condition {condition_key!r} is staged, but example {ids[start]!r} has no "
                                 "metadata.module to stage it by")
            if any(s.name == name for s in stages):
                raise InputError(f"condition {condition_key!r} is staged, but module {name!r} is not contiguous "
                                 "in the build (list each module's file once, in stage order)")
            stages.append(Stage(name, start, i, condition.stage_steps.get(name, training.max_steps)))
            start = i
    unknown = sorted(set(condition.stage_steps) - {s.name for s in stages})
    if unknown:
        raise InputError(f"condition {condition_key!r}: stage_steps names module(s) not in the build: "
                         f"{', '.join(unknown)} (stages: {', '.join(s.name for s in stages)})")
    return Plan(ordered, permutation, stages)
