"""The `palaestra` command line."""

from palaestra.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
