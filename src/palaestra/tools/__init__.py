"""Tools: Python functions (type hints -> JSON schema) and the tools of Model Context
Protocol servers, which operators call."""

from palaestra.tools._mcp import MCPTool, MCPToolset
from palaestra.tools._mcp_config import MCPServer
from palaestra.tools._tool import Tool, ToolOutcome, as_tools, execute_tool_call, tool

__all__ = [
    "MCPServer",
    "MCPTool",
    "MCPToolset",
    "Tool",
    "ToolOutcome",
    "as_tools",
    "execute_tool_call",
    "tool",
]
