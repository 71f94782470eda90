"""Ready tools for agents gated by Countersign."""

from __future__ import annotations

from langchain_core.tools import tool
from langgraph.types import interrupt


@tool
def ask_human(question: str) -> str:
    """Ask the humans in Slack a question and wait for their answer. Use it when you need a fact or a
    choice only a person can give; the answer comes back as this tool's result."""
    # Countersign posts the question; the answer typed in Slack resumes the run with it.
    return str(interrupt({"type": "ask_human", "question": question}))
