"""Text helpers for the panel (no Qt; stdlib only): summaries, clipping, numbers.

Everything here may run on a plugin thread: events are prepared there (JSON
encoding and clipping of tool inputs and results can be costly for huge values),
so Houdini's main thread only places ready-made strings into widgets.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
from typing import Any, Optional

#: Longest JSON text shown in an expanded card (characters).
DETAIL_CHARS = 20_000
#: Longest one-line input summary on a card header.
SUMMARY_CHARS = 90
#: Longest error message shown on a card.
ERROR_CHARS = 600
#: Largest image (decoded bytes) shown inline.
IMAGE_BYTES = 5 * 1024 * 1024
#: Largest JSON value encoded for display; bigger ones are described, not encoded.
ENCODE_LIMIT_CHARS = 2_000_000


def clip(text: str, limit: int) -> str:
    """*text* cut to *limit* characters with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit:,} more characters not shown)"


def to_json(value: Any, pretty: bool = False) -> str:
    """JSON text of *value* (unknown types as strings); never raises."""
    try:
        if pretty:
            return json.dumps(value, indent=2, ensure_ascii=False, default=str)
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"<not JSON: {exc}>"


def summarize_input(value: Any) -> str:
    """A one-line summary of a tool input: ``key: value`` pairs, clipped."""
    if isinstance(value, dict):
        parts = []
        length = 0
        for key, item in value.items():
            text = item if isinstance(item, str) else to_json(item)
            text = " ".join(str(text).split())
            if len(text) > 40:
                text = text[:39] + "…"
            part = f"{key}: {text}"
            parts.append(part)
            length += len(part) + 2
            if length > SUMMARY_CHARS:
                break
        summary = ", ".join(parts)
    else:
        summary = " ".join(to_json(value)[: SUMMARY_CHARS * 2].split())
    return summary if len(summary) <= SUMMARY_CHARS else summary[: SUMMARY_CHARS - 1] + "…"


def detail_json(value: Any) -> str:
    """Pretty JSON for an expanded card, clipped to :data:`DETAIL_CHARS`."""
    compact = to_json(value)
    if len(compact) > DETAIL_CHARS:
        return clip(compact, DETAIL_CHARS)  # pretty-printing megabytes helps no one
    return clip(to_json(value, pretty=True), DETAIL_CHARS)


def error_message(content: Any) -> Optional[str]:
    """The message of a tool error result (the agent_tool_error envelope or text)."""
    if isinstance(content, dict):
        etype = content.get("error_type")
        message = content.get("error_message") or content.get("message")
        if message is not None:
            text = f"{etype}: {message}" if etype else str(message)
            return clip(str(text), ERROR_CHARS)
        return clip(to_json(content), ERROR_CHARS)
    if isinstance(content, list):  # Messages API content blocks
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        joined = "".join(texts)
        try:
            return error_message(json.loads(joined))
        except ValueError:
            return clip(joined, ERROR_CHARS) if joined else None
    if isinstance(content, str):
        try:
            parsed = json.loads(content)
        except ValueError:
            return clip(content, ERROR_CHARS)
        return error_message(parsed) if not isinstance(parsed, str) else clip(parsed, ERROR_CHARS)
    return None


def decode_images(images: Any) -> list[bytes]:
    """Decoded image bytes of a tool result's ``images`` list (bad entries skipped)."""
    out: list[bytes] = []
    if not isinstance(images, list):
        return out
    for image in images[:8]:
        if not isinstance(image, dict) or image.get("media_type") not in ("image/png", "image/jpeg"):
            continue
        data = image.get("data")
        if not isinstance(data, str) or len(data) > IMAGE_BYTES * 4 // 3 + 4:
            continue
        try:
            out.append(base64.b64decode(data, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def tokens(n: Any) -> str:
    """``1,234`` for an int, ``?`` otherwise."""
    return f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else "?"


def usage_line(usage: Any) -> str:
    """``in 1,234 · out 56 tokens · $0.0123`` from a Usage object (cost only when reported)."""
    if not isinstance(usage, dict):
        return ""
    inp = usage.get("input_tokens")
    cache = sum(v for v in (usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens"))
                if isinstance(v, int) and not isinstance(v, bool))
    text = f"in {tokens(inp)}"
    if cache:
        text += f" (+{cache:,} cache)"
    text += f" · out {tokens(usage.get('output_tokens'))} tokens"
    cost = usage.get("cost_usd")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        text += f" · ${cost:.4f}"
    return text


def short_date(timestamp: Any) -> str:
    """``2026-12-02 10:41`` (local time) from an RFC 3339 timestamp; the input if unparseable."""
    if not isinstance(timestamp, str):
        return ""
    try:
        when = _dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp[:16]
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def duration(ms: Any) -> str:
    """``850 ms`` / ``2.3 s`` / ``1 min 5 s``."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
        return ""
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


__all__ = [
    "DETAIL_CHARS", "ERROR_CHARS", "SUMMARY_CHARS", "clip", "decode_images", "detail_json", "duration",
    "error_message", "short_date", "summarize_input", "to_json", "tokens", "usage_line",
]
