"""Contracts from outside packages: `use: NAME` for one registered with
`register_contract` or by an entry point in group `palaestra.contracts`, with its
parameters validated like a built-in's."""

from __future__ import annotations

import sys
import textwrap

import pytest

from palaestra.assurance import _config
from palaestra.assurance._config import ContractSpec, register_contract
from palaestra.core import ConfigError, Registry

CONTRACT_MODULE = '''
from palaestra.assurance import step_contract

def no_word(*, word: str, limit: int = 0, name: str = "no_word", on_violation="record"):
    """Step: no action text says `word` more than `limit` times."""
    def check(event):
        text = getattr(event.payload, "text", None) or ""
        return text.count(word) <= limit or f"said {word!r}"
    return step_contract(check, name=name, on_violation=on_violation, kinds=["action"])
'''


@pytest.fixture
def contracts(tmp_path, monkeypatch):
    fresh = Registry(
        "contract",
        "palaestra.contracts",
        adapt=_config._as_kind,
        same=_config.CONTRACTS._same,
        references=False,
    )
    fresh.entries.update(_config.CONTRACTS.entries)
    monkeypatch.setattr(_config, "CONTRACTS", fresh)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "mycontracts.py").write_text(textwrap.dedent(CONTRACT_MODULE))
    yield tmp_path
    sys.modules.pop("mycontracts", None)


def test_a_registered_factory_is_a_use_name_with_validated_params(contracts) -> None:
    import mycontracts

    register_contract("no_word", mycontracts.no_word)
    register_contract("no_word", mycontracts.no_word)  # again: accepted
    with pytest.raises(ConfigError, match="one of palaestra's own"):
        register_contract("budget", mycontracts.no_word)
    built = ContractSpec.model_validate({"use": "no_word", "word": "refund"}).build()
    assert built.name == "no_word"
    named = ContractSpec.model_validate(
        {"use": "no_word", "word": "x", "name": "mine", "on_violation": "end"}
    ).build()
    assert (named.name, named.on_violation) == ("mine", "end")
    with pytest.raises(ValueError, match="word: Field required"):
        ContractSpec.model_validate({"use": "no_word"})
    with pytest.raises(ValueError, match="colour: unknown parameter"):
        ContractSpec.model_validate({"use": "no_word", "word": "x", "colour": 1})
    with pytest.raises(ValueError, match="limit: Input should be a valid integer"):
        ContractSpec.model_validate({"use": "no_word", "word": "x", "limit": "lots"})


def test_entry_point_contracts_and_unknown_names(contracts) -> None:
    info = contracts / "my_contracts-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-contracts\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(
        "[palaestra.contracts]\nmine.no_word = mycontracts:no_word\n"
    )
    assert "mycontracts" not in sys.modules
    built = ContractSpec.model_validate({"use": "mine.no_word", "word": "x"}).build()
    assert built.name == "mine.no_word"
    with pytest.raises(ValueError) as info_:
        ContractSpec.model_validate({"use": "mine.no_wrd"})
    message = str(info_.value)
    assert "use: unknown contract 'mine.no_wrd'; did you mean 'mine.no_word'" in message
    assert "budget" in message and "'palaestra.contracts'" in message
    assert "package.module:Name" not in message  # contracts by reference are `python:`
