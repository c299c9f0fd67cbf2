"""``houdini_execute_python``: run Python in Houdini (destructive: it can do anything).

The code runs on the main thread with ``hou`` in its globals; ``print`` output and
``sys.stderr`` are captured (each at most :data:`MAX_OUTPUT_CHARS`, the rest
counted); if the last statement is an expression its value is the ``result``.
Runaway Python is stopped at the call's deadline (a trace hook on the code's own
frames raises ``ExecutionTimeout``); time spent inside one long C++ call cannot be
interrupted. An exception becomes a ``PythonError`` (``ObjectWasDeleted`` kept)
whose message carries the captured output's tail.
"""

from __future__ import annotations

import ast
import contextlib
import io
import sys
import time
import traceback
from typing import Any

from .. import context
from ..errors import ToolError
from .common import clip, hou_module, make_tool

MAX_OUTPUT_CHARS = 20_000
FILENAME = "<synapse:execute_python>"
DEFAULT_TIMEOUT_S = 30.0


class PythonError(ToolError):
    error_type = "PythonError"


class ExecutionTimeout(ToolError):
    error_type = "ExecutionTimeout"


class _Stop(BaseException):
    """Raised into the code at its deadline; a BaseException so ``except Exception`` cannot swallow it."""


class _Bounded(io.TextIOBase):
    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0
        self.limit = limit

    def write(self, text: str) -> int:
        self.total += len(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        return len(text)

    def text(self) -> str:
        out = "".join(self.parts)
        if self.total > self.kept:
            out += f"\n... [output clipped: {self.total} chars in all]"
        return out


def _json_result(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clip(value, 10_000)
    return clip(repr(value), 10_000)


def execute_python(args: dict) -> dict[str, Any]:
    hou = hou_module()
    try:
        tree = ast.parse(args["code"], FILENAME, "exec")
    except SyntaxError as exc:
        raise PythonError(f"SyntaxError: {exc.msg} (line {exc.lineno})") from None
    last_expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last_expr = ast.Expression(tree.body.pop().value)
    body_code = compile(tree, FILENAME, "exec")
    expr_code = compile(last_expr, FILENAME, "eval") if last_expr is not None else None
    ctx = context.current()
    deadline = ctx.deadline - 0.5 if ctx is not None else time.monotonic() + DEFAULT_TIMEOUT_S

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != FILENAME:
            return None  # only the code's own frames: library code runs untraced, at full speed
        if time.monotonic() > deadline:
            raise _Stop()
        return tracer

    out, err = _Bounded(MAX_OUTPUT_CHARS), _Bounded(MAX_OUTPUT_CHARS)
    namespace: dict[str, Any] = {"hou": hou, "__name__": "__synapse__"}
    result: Any = None
    previous_trace = sys.gettrace()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.settrace(tracer)
            try:
                exec(body_code, namespace)  # noqa: S102 - the tool's purpose; destructive, approved by the artist
                if expr_code is not None:
                    result = eval(expr_code, namespace)  # noqa: S307
            finally:
                sys.settrace(previous_trace)
    except _Stop:
        raise ExecutionTimeout("the code ran past the call's deadline and was stopped; make it shorter or split it") from None
    except Exception as exc:  # noqa: BLE001 - reported to the model
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        message = f"{tail}\n--- stdout ---\n{out.text()[-2000:]}\n--- stderr ---\n{err.text()[-2000:]}"
        if type(exc).__name__ == "ObjectWasDeleted":
            raise
        raise PythonError(message) from exc
    reply: dict[str, Any] = {"stdout": out.text(), "stderr": err.text()}
    if expr_code is not None:
        reply["result"] = _json_result(result)
    return reply


TOOL = make_tool(
    "houdini_execute_python",
    "Run Python code inside Houdini (hou is imported) when no other tool fits. Returns {stdout, stderr, result?}: "
    "printed output (each clipped at 20000 chars) and the value of the last line if it is an expression. It runs "
    "on Houdini's main thread and is stopped at the call's timeout; keep it short. Destructive: it can change "
    "anything; prefer the specific tools. Errors come back as PythonError with the traceback's last line.",
    execute_python,
    {"code": {"type": "string", "minLength": 1, "maxLength": 100000, "description": "Python source to run."}},
    required=["code"],
    read_only=False,
    destructive=True,
)

TOOLS = [TOOL]
