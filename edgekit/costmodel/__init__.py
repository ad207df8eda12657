"""Latency per hardware target without the device: op costs read from the artifact, a roofline
per op against the target's peak compute and memory bandwidth, with efficiency factors fitted on
published measurements (and on your own, with `edgekit estimate --calibrate`)."""

from __future__ import annotations

from edgekit.costmodel.costs import model_costs
from edgekit.costmodel.estimator import Estimate, estimate
from edgekit.costmodel.ops import ModelCost, OpCost, OpKind

__all__ = ["Estimate", "ModelCost", "OpCost", "OpKind", "estimate", "model_costs"]
