"""Human renderings of a plan: terminal text and Markdown. Both read only the Plan
(docs/contract.md §2)."""

from __future__ import annotations

from vertebra.render.markdown import to_markdown
from vertebra.render.text import to_text

__all__ = ["to_markdown", "to_text"]
