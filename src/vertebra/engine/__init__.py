"""The plan engine: ``plan(facts) -> Plan``. Generic: every clinical rule lives in the knowledge
base; this module only evaluates decision tables and assembles the plan."""

from __future__ import annotations

from vertebra.engine.core import context, plan, plan_json
from vertebra.engine.safety import SafetyFinding, drug_safety, safety_inputs

__all__ = ["SafetyFinding", "context", "drug_safety", "plan", "plan_json", "safety_inputs"]
