"""Usage and cost: tokens per model, a configurable price table, totals for the manifest, and a
pre-flight estimate for `--dry-run` (nothing is sent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from seqit.teachers.limits import estimate_tokens
from seqit.teachers.types import FAKE_LABEL, ChatRequest, Completion, Price, TeacherConfig


def cost_usd(prompt_tokens: int, completion_tokens: int, price: Price | None) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000


def price_for(prices: dict[str, Price], *models: str) -> Price | None:
    """The first model name with an entry in the price table (requested name, then served name)."""
    for m in models:
        if m in prices:
            return prices[m]
    return None


@dataclass
class ModelUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # sent and answered (not cached)
    cached: int = 0  # served from the ledger (free)
    failed: int = 0
    batched: int = 0  # of `requests`, answered through a provider batch (at the batch price)
    cost_usd: float = 0.0


@dataclass
class UsageLedger:
    """Running totals, per requested model."""

    prices: dict[str, Price] = field(default_factory=dict)
    models: dict[str, ModelUsage] = field(default_factory=dict)

    def add(self, model: str, comp: Completion, discount: float | None = None) -> None:
        """Count one result; `discount` (batch mode) scales its price, e.g. 0.5 for half price."""
        u = self.models.setdefault(model, ModelUsage())
        if not comp.ok:
            u.failed += 1
            return
        if comp.cached:
            u.cached += 1
            return
        u.requests += 1
        u.prompt_tokens += comp.usage.prompt_tokens
        u.completion_tokens += comp.usage.completion_tokens
        if discount is not None:
            u.batched += 1
        u.cost_usd += cost_usd(
            comp.usage.prompt_tokens, comp.usage.completion_tokens, price_for(self.prices, model, comp.model)
        ) * (1.0 if discount is None else discount)

    @property
    def cost(self) -> float:
        return sum(u.cost_usd for u in self.models.values())

    def summary(self) -> dict[str, Any]:
        models = {
            m: {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "requests": u.requests,
                "cached": u.cached,
                "failed": u.failed,
                "batched": u.batched,
                "cost_usd": round(u.cost_usd, 6),
            }
            for m, u in sorted(self.models.items())
        }
        return {
            "models": models,
            "prompt_tokens": sum(u.prompt_tokens for u in self.models.values()),
            "completion_tokens": sum(u.completion_tokens for u in self.models.values()),
            "requests": sum(u.requests for u in self.models.values()),
            "cached": sum(u.cached for u in self.models.values()),
            "failed": sum(u.failed for u in self.models.values()),
            "batched": sum(u.batched for u in self.models.values()),
            "cost_usd": round(self.cost, 6),
        }


def estimate_cost(requests: Iterable[ChatRequest], cfg: TeacherConfig) -> dict[str, Any]:
    """Upper-bound tokens and USD for sending `requests` (prompt chars/4 + max_tokens * n each)."""
    per_model: dict[str, dict[str, Any]] = {}
    fake = cfg.backend == "fake"  # scripted replies: labelled fake, free
    for req in requests:
        model = FAKE_LABEL if fake else req.model or cfg.model
        e = per_model.setdefault(model, {"requests": 0, "prompt_tokens": 0, "max_completion_tokens": 0})
        total = estimate_tokens(req.messages, req.max_tokens, req.n)
        completion = req.max_tokens * req.n
        e["requests"] += 1
        e["prompt_tokens"] += total - completion
        e["max_completion_tokens"] += completion
    for model, e in per_model.items():
        price = None if fake else price_for(cfg.prices, model)
        e["priced"] = price is not None
        discount = cfg.batch.discount if cfg.mode == "batch" else 1.0  # batch mode: the batch price
        e["max_cost_usd"] = round(cost_usd(e["prompt_tokens"], e["max_completion_tokens"], price) * discount, 6)
    return {
        "models": per_model,
        "requests": sum(e["requests"] for e in per_model.values()),
        "max_cost_usd": round(sum(e["max_cost_usd"] for e in per_model.values()), 6),
    }
