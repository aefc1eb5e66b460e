"""palaestra-example-plugin: the `example.ledger` environment, the `read_every_entry`
scorer, the `example.shifts` topology (in `shifts`, imported by its entry point, not
here), the `example:tally` model provider (`models`) and the `example.ledger-csv` export
format (`export`), for palaestra (see palaestra's docs/extending.md)."""

from palaestra_example_plugin.ledger import LEDGER, LedgerEnv, LedgerParams
from palaestra_example_plugin.scoring import read_every_entry

__all__ = ["LEDGER", "LedgerEnv", "LedgerParams", "read_every_entry"]
