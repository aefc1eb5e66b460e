"""The scripted customer's rules, one by one."""

from __future__ import annotations

import pytest

from palaestra.envs.tooluse import ScriptedUser
from palaestra.envs.tooluse._user import STOP


def test_opens_with_the_instruction() -> None:
    assert ScriptedUser("Cancel #W1.").opening() == "Cancel #W1."


def test_a_statement_after_work_ends_the_conversation() -> None:
    turn = ScriptedUser("Cancel #W1.").respond("Done.", agent_has_acted=True)
    assert turn.stop and turn.text.endswith(STOP)


def test_anything_else_after_work_ends_the_conversation() -> None:
    turn = ScriptedUser("x").respond("Done! Anything else I can do?", agent_has_acted=True)
    assert turn.stop


def test_a_question_gets_a_yes_and_the_request_again() -> None:
    user = ScriptedUser("Cancel #W1.")
    for acted in (False, True):
        turn = user.respond("Shall I cancel #W1?", agent_has_acted=acted)
        assert not turn.stop and turn.text.startswith("Yes, please go ahead.")
        assert "Cancel #W1." in turn.text


def test_a_statement_before_any_work_repeats_the_request() -> None:
    turn = ScriptedUser("Cancel #W1.").respond("Hello.", agent_has_acted=False)
    assert not turn.stop and turn.text.endswith("Cancel #W1.")


def test_patience_runs_out() -> None:
    user = ScriptedUser("x", patience=2)
    assert not user.respond("Hm?", agent_has_acted=False).stop
    last = user.respond("Hm?", agent_has_acted=False)
    assert last.stop and STOP in last.text
    with pytest.raises(ValueError, match="patience"):
        ScriptedUser("x", patience=0)
