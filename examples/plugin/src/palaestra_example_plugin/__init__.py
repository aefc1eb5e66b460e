"""palaestra-example-plugin: the `example.ledger` environment and the
`read_every_entry` scorer, for palaestra (see palaestra's docs/extending.md)."""

from palaestra_example_plugin.ledger import LEDGER, LedgerEnv, LedgerParams
from palaestra_example_plugin.scoring import read_every_entry

__all__ = ["LEDGER", "LedgerEnv", "LedgerParams", "read_every_entry"]
