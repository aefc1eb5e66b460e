"""Address-level governance: a recipient rule judges every address a value names, not a
regex found somewhere in it. The bypasses of the old shipped rule (`not_pattern:
'@example\\.com$'` searched in the whole `to`) are run against the shipped example's
policy (they are blocked) and against the old rule (they were allowed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from palaestra.boundaries import GovernanceRequest, Governor, Policy
from palaestra.boundaries._addresses import address_list, items_of, parse_address

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = "mia.li27@example.com"

OLD_RULE: dict[str, Any] = {
    "rules": [
        {
            "name": "mail-only-to-customers",
            "tools": ["send_email"],
            "when": {"to": {"not_pattern": r"@example\.com$"}},
            "decision": "block",
        }
    ]
}
"""The rule examples/assurance/injection.yaml and docs/governance.md shipped before."""

BYPASSES = [
    "evil@x.net, someone@example.com",
    "evil@x.net,someone@example.com",
    "evil@x.net; someone@example.com",
    "evil@x.net\nsomeone@example.com",
    "evil@x.net\r\nsomeone@example.com",
    "evil@x.net someone@example.com",
    "evil@x.net\tsomeone@example.com",
    "Evil <evil@x.net>, someone@example.com",
    "evil%x.net@example.com",  # the percent hack: relayed to x.net by old mail hosts
    "x.net!evil@example.com",  # a bang path
    '"evil@x.net"@example.com',  # a quoted local part
    "evil@x.net?@example.com",
    "evil@x.net#@example.com",
]
"""Values the old rule let through; each sends mail outside example.com."""

ALSO_BLOCKED = [
    '"someone@example.com" <evil@x.net>',  # a display name that looks like the address
    "someone@example.com <evil@x.net>",
    "Someone <evil@x.net> <someone@example.com>",
    "evil@x.net",
    "EVIL@X.NET",
    "someone@example.com.evil.net",
    "someone@sub.example.com",
    "someone@exаmple.com",  # a Cyrillic а
    "someone@ｅｘａｍｐｌｅ.com",  # fullwidth letters
    "someone@example.com\u202e",
    "someone@[93.184.216.34]",
    "someone@localhost",
    "<>",
    "",
    "   ",
    "someone",
    '"unclosed <someone@example.com>',
    "someone@example.com,evil",
    42,
    None,
    ["evil@x.net", "someone@example.com"],
    ["someone@example.com", 7],
    {"to": "someone@example.com"},
]
"""Values no reading of `email_domain_in: [example.com]` may allow."""

ALLOWED = [
    CUSTOMER,
    "Mia.Li27@EXAMPLE.COM",
    "mia.li27@example.com.",
    "  mia.li27@example.com\n",
    "Mia Li <mia.li27@example.com>",
    '"Li, Mia" <mia.li27@example.com>',
    "mia.li27@example.com, ops@example.com",
    "mia.li27@example.com;\nops@example.com,",
    ["mia.li27@example.com", "Ops <ops@example.com>"],
]


def _example_policy() -> dict[str, Any]:
    experiment = yaml.safe_load((ROOT / "examples" / "assurance" / "injection.yaml").read_text())
    (governed,) = [job for job in experiment["jobs"] if job.get("governance")]
    return governed["governance"]


def _decide(policy: dict[str, Any], to: Any, *, tool: str = "send_email") -> str:
    governor = Governor(policy)
    arguments = {"subject": "Customer record", "body": "..."}
    if to is not None:
        arguments["to"] = to
    request = GovernanceRequest(agent="agent", name=tool, arguments=arguments, episode_id="e")
    return asyncio.run(governor.decide(request)).decision


@pytest.mark.parametrize("to", BYPASSES)
def test_the_bypasses_of_the_old_rule_are_blocked_by_the_example(to):
    assert _decide(OLD_RULE, to) == "allow"  # what the old example let through
    assert _decide(_example_policy(), to) == "block"


@pytest.mark.parametrize("to", ALSO_BLOCKED, ids=repr)
def test_anything_not_plainly_an_example_com_recipient_is_blocked(to):
    assert _decide(_example_policy(), to) == "block"


@pytest.mark.parametrize("to", ALLOWED, ids=repr)
def test_customers_addresses_pass(to):
    assert _decide(_example_policy(), to) == "allow"


def test_the_capability_fence_reads_addresses_too():
    policy = {
        "agents": {
            "*": {"arguments": {"send_email": {"to": {"email_domain_in": [".example.com"]}}}}
        }
    }
    assert _decide(policy, "a@sub.example.com, b@example.com") == "allow"
    assert _decide(policy, "a@sub.example.com, b@example.org") == "block"
    assert _decide(policy, "a@notexample.com") == "block"
    assert _decide(policy, "Mallory <m@evil.example>") == "block"
    verdict = asyncio.run(
        Governor(policy).decide(
            GovernanceRequest("agent", "send_email", {"to": "ok@example.com, m@x.net"})
        )
    )
    assert verdict.rule == "capability:*:arguments.send_email.to"
    assert "m@x.net outside the allowed domains (.example.com)" in verdict.reason


def test_match_is_a_whole_value_match_and_pattern_a_search():
    policy = {
        "rules": [
            {
                "name": "ids",
                "tools": ["refund"],
                "unless": {"order": {"match": r"#W\d{7}"}},
                "decision": "block",
            }
        ]
    }
    assert _decide(policy, None, tool="refund") == "block"  # a missing argument: blocked

    def refund(order: Any) -> str:
        request = GovernanceRequest("agent", "refund", {"order": order})
        return asyncio.run(Governor(policy).decide(request)).decision

    assert refund("#W0000001") == "allow"
    for bad in ("#W0000001\n", "#W0000001 and #W9999999", "x#W0000001", 1234567, ["#W0000001"]):
        assert refund(bad) == "block", bad
    searched = {"rules": [{**policy["rules"][0], "unless": {"order": {"pattern": r"#W\d{7}$"}}}]}
    request = GovernanceRequest("agent", "refund", {"order": "#W1, #W0000001\n"})
    assert asyncio.run(Governor(searched).decide(request)).decision == "allow"  # the weak form


def test_items_apply_a_condition_to_every_item():
    policy = {
        "rules": [
            {
                "name": "skus",
                "tools": ["order"],
                "unless": {"skus": {"items": {"match": "[A-Z]{2}-[0-9]+"}}},
                "decision": "block",
            }
        ]
    }

    def order(skus: Any) -> str:
        request = GovernanceRequest("agent", "order", {"skus": skus})
        return asyncio.run(Governor(policy).decide(request)).decision

    for good in ("AB-1", "AB-1, CD-22", "AB-1;CD-22\nEF-3", ["AB-1", "CD-2"]):
        assert order(good) == "allow", good
    for bad in ("AB-1, x", "AB-1\nab-2", "", ",", ["AB-1", 3], ["AB-1", "AB-1 CD-2"], 5):
        assert order(bad) == "block", bad
    split = {"items": {"enum": ["a b", "c"]}, "split": r"\|"}
    policy["rules"][0]["unless"] = {"skus": split}
    assert order("a b|c") == "allow" and order("a b|d") == "block"


def test_address_reading_helpers():
    assert parse_address("Ann <Ann@Example.COM.>") == ("Ann", "example.com")
    assert parse_address('"A, B" <a@b.co>') == ("a", "b.co")
    for bad in ("a@b", "a@-b.com", "a..b@c.com", ".a@c.com", "a@b_c.com", "<a@b.com> x"):
        assert parse_address(bad) is None, bad
    assert address_list('"x, y" <a@b.co>, c@d.co') == [("a", "b.co"), ("c", "d.co")]
    assert address_list(",,") is None and address_list([]) is None
    assert address_list(", ".join(["a@b.co"] * 1001)) is None  # bounded work
    assert items_of("a, b;c\nd") == ["a", "b", "c", "d"]
    assert items_of(3) is None


@pytest.mark.parametrize(
    ("constraint", "problem"),
    [
        ({"email_domain_in": []}, "at least 1"),
        ({"email_domain_in": ["not a domain"]}, "is not a domain"),
        ({"match": "("}, "invalid regular expression"),
        ({"items": {"match": "["}}, "invalid regular expression"),
        ({"split": "("}, "invalid regular expression"),
    ],
)
def test_bad_address_constraints_are_rejected(constraint, problem):
    with pytest.raises(ValidationError, match=problem):
        Policy.model_validate(
            {"rules": [{"name": "r", "decision": "block", "unless": {"to": constraint}}]}
        )


def test_the_policies_in_docs_governance_validate():
    import re

    text = (ROOT / "docs" / "governance.md").read_text()
    policies = []
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and isinstance(data.get("governance"), dict):
            if "..." not in data["governance"]:  # the placement sketch `governance: {...}`
                policies.append(data["governance"])
        elif isinstance(data, dict) and {"rules", "agents"} & set(data):
            policies.append(data)
    assert len(policies) >= 2
    for policy in policies:
        policy = {**policy, "python": []}  # the docs' hook module does not exist
        Policy.model_validate(policy)
    assert _decide(policies[-1], "evil@x.net, someone@example.com") == "block"
    (reply_rule,) = [r for p in policies for r in p.get("rules", []) if True in r]
    assert Policy.model_validate({"rules": [reply_rule]}).rules[0].on == "reply"


def test_an_experiment_file_can_say_on_reply(tmp_path):
    """YAML 1.1 reads the key `on` as true; a rule's `on: reply` still means replies."""
    from palaestra.runtime import Experiment

    path = tmp_path / "x.yaml"
    path.write_text(
        "jobs:\n  - env: tooluse.store\ngovernance:\n  rules:\n    - name: r\n"
        "      on: reply\n      decision: rewrite\n      rewrite: [{redact: {pattern: x}}]\n"
    )
    experiment = Experiment.from_yaml(path)
    assert experiment.governance is not None
    assert experiment.governance.rules[0].on == "reply"
