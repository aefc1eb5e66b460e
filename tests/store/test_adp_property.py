"""Laws of ADP import and export on generated trajectories (hypothesis): whatever a
release accepts, palaestra reads; what it writes back is accepted by the release it
names, keeps every item's text, and reading and writing it again changes nothing."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.store import Store, export_adp, import_adp
from palaestra.store._adp_items import NO_RESULT
from palaestra.store._adp_schema import TRAJECTORY_MODELS
from tests.store.adp_corpus import api, code, msg, obs, traj

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
LANGUAGES = st.sampled_from(["python", "bash", "javascript", "go", "sql", "rust"])


@st.composite
def trajectories(draw: Any) -> dict[str, Any]:
    """A trajectory ADP 1.3.0 accepts: ids on every call followed by an observation,
    each answered once (sometimes late, sometimes in parallel), none elsewhere."""
    content: list[dict[str, Any]] = []
    open_ids: list[str] = []
    for n in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["obs", "user", "api", "code", "msg", "answer"]))
        if kind == "answer" and open_ids:
            call_id = open_ids.pop(draw(st.integers(0, len(open_ids) - 1)))
            content.append(obs(draw(TEXT), tool_call_id=call_id))
        elif kind in ("obs", "user", "answer"):
            source = "user" if kind == "user" else draw(st.sampled_from(["environment", "agent"]))
            name = draw(st.none() | st.sampled_from(["agent/b", "tool"]))
            content.append(obs(draw(TEXT), source, **({"name": name} if name else {})))
        elif kind == "msg":
            content.append(msg(draw(TEXT)))
        else:
            item = (
                api(draw(st.sampled_from(["f", "g"])), kwargs={"x": draw(TEXT)})
                if kind == "api"
                else code(draw(LANGUAGES), draw(TEXT))
            )
            item["tool_call_id"] = f"c{n}"
            open_ids.append(f"c{n}")
            content.append(item)
    # every call answered (1.3.0), the ones still open at the end
    content += [obs(draw(TEXT), tool_call_id=call_id) for call_id in open_ids]
    return traj(content, "1.3.0")


def _round(record: dict[str, Any], version: str, tmp_path: Any, name: str) -> str:
    """`record` imported, then exported as `version` (1.5.0: through its directory)."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with Store(tmp_path / f"{name}.db") as store:
        run_id = import_adp(store, path)
        if version == "1.5.0":
            export_adp(store, run_id, tmp_path / name, version=version)
            return (tmp_path / name / "trajectories.jsonl").read_text(encoding="utf-8")
        buffer = io.StringIO()
        export_adp(store, run_id, buffer, version=version)
    return buffer.getvalue()


def _texts(record: dict[str, Any]) -> list[str]:
    """Every item's class and words (calls by name and arguments), markers aside."""
    return sorted(
        f"{i['class_']}:{i.get('content', '')}:{i.get('function', '')}:{i.get('kwargs', '')}"
        for i in record["content"]
        if i.get("content") != NO_RESULT
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(record=trajectories(), version=st.sampled_from(["1.2.0", "1.3.0", "1.5.0"]))
def test_written_back_valid_complete_and_stable(record, version, tmp_path_factory):
    TRAJECTORY_MODELS["1.3.0"].model_validate(record)  # the generator makes valid ones
    tmp_path = tmp_path_factory.mktemp("adp")
    once = _round(record, version, tmp_path, "once")
    (line,) = once.split("\n")[:-1]  # one line (U+2028 and the like stay inside it)
    written = json.loads(line)
    TRAJECTORY_MODELS[version].model_validate(written)
    assert _texts(written) == _texts(record)  # nothing lost, nothing invented
    twice = _round(written, version, tmp_path, "twice")
    assert twice == once
