"""An answer's Markdown as plain text (``vertebra ask --format text``)."""

from __future__ import annotations

import re

_FOOTNOTE_REF = re.compile(r"\[\^(\d+)\](?!:)")
_FOOTNOTE_DEF = re.compile(r"^\[\^(\d+)\]:", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,3}) (.*)$", re.MULTILINE)


def to_text(markdown: str) -> str:
    """Plain text: headings underlined, emphasis removed, footnotes as [n]."""
    text = _FOOTNOTE_DEF.sub(r"[\1]", markdown)
    text = _FOOTNOTE_REF.sub(r"[\1]", text)

    def heading(m: re.Match[str]) -> str:
        title = m.group(2)
        return f"{title}\n{('=' if len(m.group(1)) == 1 else '-') * len(title)}"

    text = _HEADING.sub(heading, text)
    text = text.replace("**", "").replace("> ", "")
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?!\w)", r"\1", text)
    return text
