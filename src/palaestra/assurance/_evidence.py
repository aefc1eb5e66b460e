"""The evidence rules of the taxonomy: each finder reads one kind of evidence in a failed
episode's log and returns `Finding`s, decisive or not.

A finding is *decisive* when the log shows that the outcome could not be won back after
it (an error never made good, a violated contract, an episode cut short); a
*contributing* finding is an error that was recovered, or one the episode ended too
soon after to tell. `palaestra.assurance.diagnose` picks the earliest decisive one.

The rules, with their thresholds, are in docs/diagnosis.md; each finder's docstring
restates its own.
"""

import json
import re
from collections import Counter
from collections.abc import Iterator

from palaestra.assurance._log import Confidence, Finding, Log, finding, short
from palaestra.core import (
    ActionEvent,
    ContractVerdict,
    EnvStep,
    Event,
    Governance,
    MessageEvent,
)

PLATFORM_ERROR = re.compile(
    r"timed?[ -]?out|timeout|connection (?:error|refused|reset|closed)|connecterror|"
    r"unavailable|unreachable|server error|(?:status|http) 5\d\d|rate.?limit|"
    r"too many requests",
    re.IGNORECASE,
)
"""A tool error text that names a platform failure rather than the agent's arguments."""

MALFORMED_ARGS = re.compile(r"not valid JSON", re.IGNORECASE)
UNKNOWN_TOOL = re.compile(r"unknown tool", re.IGNORECASE)
WRONG_VALUE = re.compile(r"(\w+) got (\S+?), expected (\S+?)(?:[,;]|$)")
"""`NAME got V, expected W` in a score explanation (mas.controlled writes it)."""
_VALUE = re.compile(r"-?\d+(?:\.\d+)?|[A-Za-z_][\w-]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


# -- the finders ----------------------------------------------------------------------


def contract_findings(log: Log) -> Iterator[Finding]:
    """Each failed `contract_verdict`, blaming its first violating event (decisive)."""
    for event in log.events:
        p = event.payload
        if isinstance(p, ContractVerdict) and not p.passed:
            target = log.get(p.first_violation)
            blamed = target or event
            where = f"first violated at seq {blamed.seq}" if target else "no violating event named"
            detail = f": {short(p.detail)}" if p.detail else ""
            yield finding(
                blamed,
                "contract_violation",
                True,
                "high",
                f"contract {p.contract!r} failed ({where}){detail}",
            )


def model_findings(log: Log) -> Iterator[Finding]:
    """Model requests whose every response failed (decisive: the call failed for good);
    failed attempts followed by a successful retry are contributing."""
    answered = [log.responses_of(request) for request in log.of_kind("model_request")]
    for responses in sorted((r for r in answered if r), key=lambda r: r[0].seq):
        failed = [r for r in responses if r.payload.error is not None]  # type: ignore[attr-defined]
        if not failed:
            continue
        ok = len(failed) < len(responses)
        last = failed[-1]
        error = short(last.payload.error or "")  # type: ignore[attr-defined]
        if ok:
            yield finding(
                last,
                "model_failure",
                False,
                "low",
                f"{len(failed)} failed model attempt(s), then a successful retry: {error}",
            )
        else:
            yield finding(
                last,
                "model_failure",
                True,
                "high",
                f"model call failed for good after {len(failed)} attempt(s): {error}",
            )


def classify_tool_error(content: str) -> str:
    """The category of a tool error text: platform `tool_failure` when it names a
    timeout, connection, unavailable service, 5xx or rate limit; `malformed_output`
    when the arguments were not JSON; `tool_misuse` otherwise."""
    if MALFORMED_ARGS.search(content):
        return "malformed_output"
    if PLATFORM_ERROR.search(content):
        return "tool_failure"
    return "tool_misuse"


def tool_findings(log: Log, faulted: set[int]) -> Iterator[Finding]:
    """Tool errors from either channel. Unrecovered (no later success of the same tool
    by the same agent; of any tool after an unknown-tool error) and followed by another
    decision of the agent: decisive. Recovered, or the episode ended before the agent
    could act again: contributing. A call under an injected fault (`faulted` holds the
    seqs of faulted calls) is left to the fault's own finding: contributing here."""
    for t in log.tools:
        if t.ok:
            continue
        text = f"tool {t.name!r} returned an error: {short(t.content)}"
        if t.call.seq in faulted:
            yield finding(t.call, "tool_failure", False, "low", text + " (an injected fault)")
            continue
        category = classify_tool_error(t.content)
        recovered = log.tool_recovered(
            t.agent, t.name, t.seq, any_tool=bool(UNKNOWN_TOOL.search(t.content))
        )
        if recovered:
            yield finding(t.call, category, False, "low", text + "; later recovered")
        elif log.acted_after(t.agent, t.seq):
            confidence: Confidence = "medium" if category == "tool_misuse" else "high"
            yield finding(
                t.call,
                category,
                True,
                confidence,
                text + "; never made good by a later successful call",
            )
        else:
            yield finding(
                t.call,
                category,
                False,
                "low",
                text + "; the episode ended before the agent acted again",
            )


def governance_findings(log: Log) -> Iterator[Finding]:
    """Each `governance` block: decisive unless the same agent later got an allow or
    rewrite on the same target, or a successful result of a tool of that name."""
    for event in log.events:
        p = event.payload
        if not isinstance(p, Governance) or p.decision != "block":
            continue
        later_allowed = any(
            e.seq > event.seq
            and e.agent == event.agent
            and isinstance(e.payload, Governance)
            and e.payload.decision != "block"
            and e.payload.target == p.target
            for e in log.events
        )
        recovered = later_allowed or log.tool_recovered(event.agent, p.target, event.seq)
        text = f"governance rule {p.rule!r} blocked {p.target or 'an action'}"
        yield finding(
            event,
            "blocked_action",
            not recovered,
            "low" if recovered else "medium",
            text
            + (
                "; the agent reached it another way"
                if recovered
                else "; the agent never got past it"
            ),
        )


def invalid_answer_findings(log: Log) -> Iterator[Finding]:
    """Agents still listed in the last `env_step` that reports `info.answers_invalid`
    (decisive, blaming the agent's action at that step); agents listed earlier but not
    there were fixed by the re-ask (contributing)."""
    reports = [
        e
        for e in log.events
        if isinstance(e.payload, EnvStep)
        and isinstance(e.payload.info.get("answers_invalid"), list)
    ]
    if not reports:
        return
    last = reports[-1]
    final = set(map(str, last.payload.info["answers_invalid"]))  # type: ignore[attr-defined]
    seen: set[str] = set()
    for report in reports:
        for agent in map(str, report.payload.info["answers_invalid"]):  # type: ignore[attr-defined]
            if agent in seen:
                continue
            fixed = agent not in final
            if not fixed and report is not last:
                continue  # reported at the last report
            seen.add(agent)
            blamed = log.action_of(agent, report.step) or report
            yield finding(
                blamed,
                "malformed_output",
                not fixed,
                "low" if fixed else "high",
                f"the environment found {agent}'s answer invalid"
                + ("; fixed when asked again" if fixed else " and it never became valid"),
            )


def reward_findings(log: Log) -> Iterator[Finding]:
    """The first `env_step` with a negative reward, blaming that agent's action there."""
    for event in log.events:
        p = event.payload
        if isinstance(p, EnvStep):
            negative = sorted(a for a, r in p.rewards.items() if r < 0)
            if negative:
                agent = negative[0]
                blamed = log.action_of(agent, event.step) or event
                yield finding(
                    blamed,
                    "wrong_action",
                    True,
                    "medium",
                    f"{agent}'s action earned a negative reward ({p.rewards[agent]:g})",
                )
                return


def _action_values(action: ActionEvent) -> set[str]:
    """Scalar values an action submits: its tool-call argument values, else the words
    and numbers after `ANSWER:` in its text, else the numbers in its text."""
    values: set[str] = set()
    for call in action.action.tool_calls:
        for value in call.arguments.values():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                values.add(str(value).strip())
    text = action.action.text or ""
    if text and not values:
        _head, sep, tail = text.rpartition("ANSWER:")
        values.update(_VALUE.findall(tail) if sep else _NUMBER.findall(text))
    return {v for v in values if v}


def _tokens(text: str) -> set[str]:
    return set(_VALUE.findall(text))


def sub_result_findings(log: Log) -> Iterator[Finding]:
    """Member replies (a `message` whose sender is an internal agent, `a/b`) that hold a
    value the system then submitted. When the score explanation marks the value wrong
    (`NAME got V, expected W`) and the reply does not hold W: decisive, high confidence.
    When the score names no values: the reply that first held the value of the
    episode's last action, decisive with low confidence."""
    replies = [
        e for e in log.events if isinstance(e.payload, MessageEvent) and "/" in e.payload.sender
    ]
    actions = [e for e in log.events if isinstance(e.payload, ActionEvent) and "/" not in e.agent]
    if not replies or not actions:
        return
    explanation = log.score.explanation if log.score is not None else ""
    wrong = WRONG_VALUE.findall(explanation)
    if wrong:
        for name, got, expected in wrong:
            for reply in replies:
                content: str = reply.payload.content  # type: ignore[attr-defined]
                tokens = _tokens(content)
                if got not in tokens or expected in tokens:
                    continue
                if any(
                    a.seq > reply.seq and got in _action_values(a.payload)  # type: ignore[arg-type]
                    for a in actions
                ):
                    yield finding(
                        reply,
                        "wrong_sub_result",
                        True,
                        "high",
                        f"{reply.payload.sender} replied {short(content, 60)!r}; the system "  # type: ignore[attr-defined]
                        f"submitted {got} for {name}, which the score marks wrong "
                        f"(expected {expected})",
                    )
                    break
        return
    last = actions[-1]
    final = _action_values(last.payload)  # type: ignore[arg-type]
    own = [r for r in replies if r.seq < last.seq and r.agent.startswith(f"{last.agent}/")]
    # the reply that fed the final action: the first in its step holding the answer,
    # else the latest one before it
    ordered = [r for r in own if r.step == last.step] + [
        r for r in reversed(own) if r.step != last.step
    ]
    for reply in ordered:
        said: str = reply.payload.content  # type: ignore[attr-defined]
        shared = sorted(final & _tokens(said))
        if shared:
            yield finding(
                reply,
                "wrong_sub_result",
                True,
                "low",
                f"the failed final answer of {last.agent} ({', '.join(shared[:3])}) comes "
                f"from {reply.agent}'s reply {short(said, 60)!r}",
            )
            return


def _action_key(action: ActionEvent) -> str:
    calls = [(c.name, json.dumps(c.arguments, sort_keys=True)) for c in action.action.tool_calls]
    return json.dumps([action.action.text or "", calls])


def ending_findings(log: Log) -> Iterator[Finding]:
    """What `episode_end` says: an error (model, environment or the operator's own
    code), a budget, or a step limit (with the first repetition of an action taken at
    least three times, when the agent looped)."""
    end, event = log.end, log.end_event
    if end.reason == "error":
        error = end.error or ""
        trace = end.traceback or ""
        agent = re.search(r"agent '([^']+)'", error)
        if error.startswith(("ModelError", "ModelReplyError")):
            yield finding(
                event, "model_failure", True, "high", f"the episode ended: {short(error)}"
            )
        elif error.startswith("score() failed") or _raised_in_env(trace):
            yield finding(
                event, "env_failure", True, "high", f"the environment raised: {short(error)}"
            )
        else:
            blamed = Finding(
                event.seq,
                event.step,
                agent.group(1) if agent else event.agent,
                event.kind,
                "operator_error",
                True,
                "high",
                f"an operator raised: {short(error)}",
            )
            yield blamed
    elif end.reason == "budget":
        yield finding(
            event,
            "budget_exhausted",
            True,
            "medium",
            f"the budget ran out: {short(end.error or 'budget')}",
        )
    elif end.reason in ("max_steps", "truncated"):
        counts: Counter[tuple[str, str]] = Counter()
        first_repeat: dict[tuple[str, str], Event] = {}
        for e in log.events:
            if isinstance(e.payload, ActionEvent):
                key = (e.agent, _action_key(e.payload))
                counts[key] += 1
                if counts[key] == 2:
                    first_repeat[key] = e
        loops = [first_repeat[k] for k, n in counts.items() if n >= 3]
        how = "hit max_steps" if end.reason == "max_steps" else "was truncated by the environment"
        if loops:
            first = min(loops, key=lambda e: e.seq)
            n = counts[(first.agent, _action_key(first.payload))]  # type: ignore[arg-type]
            yield finding(
                first,
                "step_repetition",
                True,
                "medium",
                f"{first.agent} repeated the same action {n} times; the episode {how}",
            )
        yield finding(
            event, "step_limit", True, "medium", f"the episode {how} after {end.steps} steps"
        )


_FRAME = re.compile(r'File "([^"]+)", line \d+, in (\w+)\n[ \t]*(.*)')


def _raised_in_env(trace: str) -> bool:
    """Whether a traceback says the environment raised. The episode loop's innermost
    frame (`runtime/_episode.py`) names the call that raised: `env.step`, `env.reset`
    (environment) or an operator's `act`. Without such a frame (another runner), the
    innermost frame decides: a `step`/`reset`/`score` method or code under `envs/` that
    is not an operator's `act`."""
    frames = [(p.replace("\\", "/"), f, line) for p, f, line in _FRAME.findall(trace)]
    if not frames:
        return False
    loop = [line for path, _f, line in frames if path.endswith("runtime/_episode.py")]
    if loop:
        return "env." in loop[-1]
    path, func, _line = frames[-1]
    return func != "act" and ("/envs/" in path or func in ("step", "reset", "score"))


def fallback_finding(log: Log) -> Finding:
    """No decisive evidence: blame the last action (wrong_action, low confidence), or,
    without any action, the episode end (unexplained)."""
    why = log.score.explanation if log.score is not None and log.score.explanation else ""
    actions = [e for e in log.events if e.kind == "action"]
    if actions:
        return finding(
            actions[-1],
            "wrong_action",
            True,
            "low",
            "no error in the log; the last action committed a result the score rejects"
            + (f" ({short(why)})" if why else ""),
        )
    return finding(
        log.end_event,
        "unexplained",
        True,
        "low",
        "the episode failed with no action and no error in the log",
    )
