"""Tools: Python functions (type hints -> JSON schema) that operators call."""

from palaestra.tools._tool import Tool, ToolOutcome, as_tools, execute_tool_call, tool

__all__ = ["Tool", "ToolOutcome", "as_tools", "execute_tool_call", "tool"]
