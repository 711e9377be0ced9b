"""The fracture liaison definition (population, windows, indicators) loaded from ``fls.yaml``."""

from __future__ import annotations

from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from vertebra import yamlfile


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Strict):
    min_age: int
    note: str
    references: list[str]


class ValueSets(_Strict):
    vertebral_fracture: str
    other_fracture: str
    medication: str
    dxa_scan: str
    dxa_t_score: str
    egfr: str


class Windows(_Strict):
    episode_days: int
    current_drug_lookback_days: int


class Indicator(_Strict):
    id: str
    title: str
    definition: str
    window_days: int | None = None
    persistence_from_days: int | None = None
    persistence_to_days: int | None = None
    references: list[str]


class FlsDefinition(_Strict):
    references: list[str]
    population: Population
    value_sets: ValueSets
    site_order: list[str]
    windows: Windows
    indicators: list[Indicator]

    def indicator(self, indicator_id: str) -> Indicator:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise KeyError(indicator_id)


@cache
def load_definition() -> FlsDefinition:
    """Load and validate ``fls.yaml`` (unknown keys are rejected)."""
    text = resources.files(__package__).joinpath("fls.yaml").read_text(encoding="utf-8")
    return FlsDefinition.model_validate(yamlfile.safe_load(text))
