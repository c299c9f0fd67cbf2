"""A stored session (``session.get``) as turns the transcript can show (no Qt).

Messages are split into turns: a user message with text starts a turn, user
messages made only of ``tool_result`` blocks and assistant messages continue it.
The k-th such group is the k-th entry of ``turns`` (both oldest first).
"""

from __future__ import annotations

from typing import Any, Optional

from . import format as fmt


class HistoryTurn:
    """One past turn: prompt, items in order, and its TurnInfo."""

    __slots__ = ("prompt", "items", "info")

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        #: ``("text", str)`` | ``("tool", {call_id, name, summary, input_text})`` |
        #: ``("result", {call_id, is_error, error, result_text})``
        self.items: list[tuple[str, Any]] = []
        self.info: Optional[dict] = None


def _prompt_of(content: Any) -> Optional[str]:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        if texts:
            return "".join(t for t in texts if isinstance(t, str))
    return None


def split_turns(detail: dict) -> list[HistoryTurn]:
    """The session's turns with their content, oldest first (malformed entries skipped)."""
    turns: list[HistoryTurn] = []
    messages = detail.get("messages") if isinstance(detail.get("messages"), list) else []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role == "user":
            prompt = _prompt_of(content)
            if prompt is not None:
                turns.append(HistoryTurn(prompt))
                continue
            if not turns:
                continue
            for block in content if isinstance(content, list) else ():
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    is_error = bool(block.get("is_error"))
                    turns[-1].items.append(("result", {
                        "call_id": str(block.get("tool_use_id")),
                        "is_error": is_error,
                        "error": fmt.error_message(block.get("content")) if is_error else None,
                        "result_text": fmt.detail_json(_result_value(block.get("content"))),
                    }))
        elif role == "assistant" and turns:
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks if isinstance(blocks, list) else ():
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text" and isinstance(block.get("text"), str):
                    turns[-1].items.append(("text", block["text"]))
                elif block.get("type") == "tool_use":
                    turns[-1].items.append(("tool", {
                        "call_id": str(block.get("id")), "name": str(block.get("name") or "?"),
                        "summary": fmt.summarize_input(block.get("input")),
                        "input_text": fmt.detail_json(block.get("input")),
                    }))
    infos = detail.get("turns") if isinstance(detail.get("turns"), list) else []
    infos = [t for t in infos if isinstance(t, dict)]
    # Turns with no stored message yet (queued) have an info but no group.
    for index, info in enumerate(infos):
        if index < len(turns):
            turns[index].info = info
        else:
            extra = HistoryTurn(str(info.get("prompt") or ""))
            extra.info = info
            turns.append(extra)
    return turns


def _result_value(content: Any) -> Any:
    """A tool_result's content as the JSON value it carries, when it is JSON text."""
    import json

    if isinstance(content, list):
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


__all__ = ["HistoryTurn", "split_turns"]
