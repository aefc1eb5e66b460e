// palaestra viewer: a single page over the JSON API (docs/viewer.md). Plain modern JS,
// no framework, no build step. Every text from the store goes through textContent
// (never innerHTML), so model output cannot inject markup.
"use strict";

const EPISODES_PAGE = 50;
const RUNS_PAGE = 50;
const EVENTS_PAGE = 200;
const OUTCOMES = ["success", "failure", "error", "running"];
const KINDS = [
  "episode_start", "observation", "model_request", "model_response", "tool_call",
  "tool_result", "message", "action", "env_step", "memory_read", "memory_write",
  "governance", "fault", "contract_verdict", "workspace", "score", "episode_end",
];

const $ = (selector, root = document) => root.querySelector(selector);
const main = () => $("#main");

// -- small helpers --------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else query.append(key, value);
  }
  let response;
  try {
    response = await fetch(`api/${path}?${query}`);
  } catch (error) {
    throw new Error(`the viewer server does not answer (${error.message}); is palaestra view still running?`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail !== undefined
      ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
      : "";
    throw new Error(`${response.status} ${response.statusText}${detail ? ": " + detail : ""} (GET api/${path})`);
  }
  if (body === null) throw new Error(`GET api/${path}: the answer is not JSON`);
  return body;
}

// Every failure shows in the banner (an API error's `detail`, a network error, a bad
// address): the page never fails silently. `showError(null)` clears it on navigation.
function showError(error) {
  const banner = $("#error");
  if (!error) { banner.hidden = true; banner.textContent = ""; return; }
  const message = error && error.message !== undefined ? error.message : error;
  banner.textContent = String(message || "something went wrong");
  banner.hidden = false;
}

const fmt = {
  num: (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits)),
  int: (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en")),
  pct: (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`),
  time: (t) => (t ? new Date(t * 1000).toLocaleString() : "–"),
  secs: (s) => (!s ? "" : s < 0.001 ? "<1 ms" : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`),
};

function outcomeBadge(row) {
  const value = row.outcome || row.status || "running";
  return el("span", { class: `badge ${value}` }, value);
}

function crumbs(...items) {
  const nav = $("#crumbs");
  nav.replaceChildren(...items.flatMap((item, i) => [
    i ? el("span", { class: "muted" }, "/") : null,
    item.href ? el("a", { href: item.href }, item.label) : el("span", {}, item.label),
  ].filter(Boolean)));
}

function pager(page, onMove) {
  const first = page.total ? page.offset + 1 : 0;
  const last = Math.min(page.offset + page.items.length, page.total);
  return el("div", { class: "pager" },
    el("button", {
      type: "button", class: "prev", disabled: page.offset === 0,
      onclick: () => onMove(Math.max(0, page.offset - page.limit)),
    }, "‹ previous"),
    el("span", { class: "range" }, `${first}–${last} of ${fmt.int(page.total)}`),
    el("button", {
      type: "button", class: "next", disabled: page.offset + page.limit >= page.total,
      onclick: () => onMove(page.offset + page.limit),
    }, "next ›"),
  );
}

function card(label, value) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    el("div", { class: "value" }, value));
}

// -- routing: #/  #/run/ID?filters  #/episode/ID ---------------------------------------

// A hand-edited or truncated address must not break the page: a part that does not
// decode (`%E0%A4`) is a BadAddress, shown in the banner over the runs list.
class BadAddress extends Error {}

function decodePart(part) {
  try {
    return decodeURIComponent(part);
  } catch (error) {
    throw new BadAddress(`this address is malformed: ${JSON.stringify(part)} is not valid percent-encoding`);
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = cut < 0 ? "" : raw.slice(cut + 1);
  const parts = path.split("/").filter(Boolean).map(decodePart);
  return { parts, params: new URLSearchParams(query) };
}

// A whole number >= 0 from the address, or `fallback` (e.g. a page offset of "abc").
function wholeNumber(text, fallback) {
  return text !== null && /^\d{1,15}$/.test(text) ? Number(text) : fallback;
}

function go(parts, params) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const query = params && [...params].length ? `?${params}` : "";
  location.hash = path + query;
}

let renderToken = 0;

async function route() {
  const token = ++renderToken;
  closeJson();
  showError(null);
  try {
    let address;
    try {
      address = parseHash();
    } catch (error) {
      if (!(error instanceof BadAddress)) throw error;
      showError(error);
      await renderRuns(new URLSearchParams(), token);
      return;
    }
    const { parts, params } = address;
    if (parts[0] === "run" && parts[1]) await renderRun(parts[1], params, token);
    else if (parts[0] === "episode" && parts[1]) {
      const id = wholeNumber(parts[1], null);
      if (id === null) throw new Error(`${JSON.stringify(parts[1])} is not an episode id (a whole number, as in #/episode/42)`);
      await renderEpisode(id, params, token);
    } else await renderRuns(params, token);
  } catch (error) {
    if (token === renderToken) showError(error);
  }
}

// -- runs ------------------------------------------------------------------------------

async function renderRuns(params, token) {
  const offset = wholeNumber(params.get("offset"), 0);
  const page = await api("runs", { limit: RUNS_PAGE, offset });
  if (token !== renderToken) return;
  crumbs({ label: "runs" });
  $("#store-path").textContent = page.store || "";
  const rows = page.items.map((run) => el("tr", {
    dataset: { run: run.run_id },
    onclick: () => go(["run", run.run_id]),
  },
  el("td", {}, el("a", { href: `#/run/${encodeURIComponent(run.run_id)}` }, run.run_id)),
  el("td", {}, run.name),
  el("td", {}, el("span", { class: `badge ${run.status}` }, run.status)),
  el("td", {}, fmt.time(run.created_at)),
  el("td", { class: "num" }, fmt.int(run.episodes)),
  el("td", { class: "num" }, fmt.pct(run.success_rate)),
  el("td", { class: "num" }, fmt.int(run.error)),
  el("td", { class: "num" }, fmt.num(run.mean_score)),
  el("td", { class: "num" }, fmt.int(run.events)),
  ));
  main().replaceChildren(
    el("h1", {}, "Runs ", el("small", {}, `${fmt.int(page.total)} in this store`)),
    el("table", { class: "grid", id: "runs-table" },
      el("thead", {}, el("tr", {},
        ...["run", "name", "status", "created"].map((h) => el("th", {}, h)),
        ...["episodes", "success", "errors", "mean score", "events"].map(
          (h) => el("th", { class: "num" }, h)),
      )),
      el("tbody", {}, rows.length ? rows
        : el("tr", {}, el("td", { colspan: 9, class: "empty" },
          "No runs yet: palaestra run EXPERIMENT.yaml"))),
    ),
    pager(page, (o) => go([], new URLSearchParams({ offset: o }))),
  );
}

// -- one run: summary, filters, episodes -----------------------------------------------

const FILTERS = ["outcome", "env", "job", "agent", "task", "score_min", "score_max"];

function facetSelect(name, label, values) {
  const select = el("select", { name },
    el("option", { value: "" }, "any"),
    ...values.map(([value, count]) => el("option", { value }, `${value} (${count})`)));
  return el("label", {}, label, select);
}

async function renderRun(runRef, params, token) {
  const offset = wholeNumber(params.get("offset"), 0);
  const filters = {};
  for (const name of FILTERS) if (params.get(name)) filters[name] = params.get(name);
  const [run, facets, page] = await Promise.all([
    api("run", { run: runRef }),
    api("facets", { run: runRef }),
    api("episodes", { run: runRef, ...filters, limit: EPISODES_PAGE, offset }),
  ]);
  if (token !== renderToken) return;
  crumbs({ label: "runs", href: "#/" }, { label: run.run_id });
  const s = run.summary;
  const outcomes = OUTCOMES.map((o) => [o, (facets.outcome.find(([v]) => v === o) || [o, 0])[1]]);

  const form = el("form", { class: "filters", id: "episode-filters" },
    facetSelect("outcome", "outcome", outcomes),
    facetSelect("env", "env", facets.env),
    facetSelect("job", "job", facets.job),
    facetSelect("agent", "agent", facets.agent),
    el("label", {}, "task / episode contains",
      el("input", { name: "task", type: "search", placeholder: "text" })),
    el("label", {}, "score ≥", el("input", { name: "score_min", type: "number", step: "any" })),
    el("label", {}, "score ≤", el("input", { name: "score_max", type: "number", step: "any" })),
    el("button", { type: "submit", class: "primary" }, "filter"),
    el("button", { type: "button", class: "reset", onclick: () => go(["run", run.run_id]) }, "reset"),
  );
  for (const [name, value] of Object.entries(filters)) form.elements[name].value = value;
  const apply = (event) => {
    if (event) event.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) next.set(name, value);
    }
    go(["run", run.run_id], next);
  };
  form.addEventListener("submit", apply);
  form.querySelectorAll("select").forEach((select) => select.addEventListener("change", apply));

  const rows = page.items.map((ep) => el("tr", {
    dataset: { episode: ep.episode_id, id: ep.id, outcome: ep.outcome || ep.status },
    onclick: () => go(["episode", ep.id]),
  },
  el("td", {}, el("a", { href: `#/episode/${ep.id}` }, ep.episode_id)),
  el("td", {}, ep.env),
  el("td", {}, ep.task),
  el("td", { class: "num" }, ep.seed),
  el("td", { class: "num" }, ep.epoch),
  el("td", { class: "wrap" }, ep.agents.join(", ")),
  el("td", {}, outcomeBadge(ep)),
  el("td", { class: "num" }, fmt.num(ep.score)),
  el("td", { class: "num" }, ep.steps),
  el("td", { class: "num" }, fmt.int(ep.n_events)),
  el("td", { class: "num" }, fmt.int(ep.input_tokens + ep.output_tokens)),
  el("td", { class: "num" }, fmt.num(ep.wall_s, 2)),
  ));
  main().replaceChildren(
    el("h1", {}, run.run_id, " ", el("small", {},
      `${run.name} · seed ${run.seed} · ${run.status} · ${fmt.time(run.created_at)}`)),
    el("div", { class: "cards", id: "run-summary" },
      card("episodes", fmt.int(s.episodes)),
      card("success rate", fmt.pct(s.success_rate)),
      card("errors", fmt.int(s.by_outcome.error)),
      card("mean score", fmt.num(s.mean_score)),
      card("tokens", fmt.int(s.total_tokens)),
      card("events", fmt.int(s.events)),
    ),
    form,
    el("table", { class: "grid", id: "episodes-table" },
      el("thead", {}, el("tr", {},
        ...["episode", "env", "task"].map((h) => el("th", {}, h)),
        ...["seed", "epoch"].map((h) => el("th", { class: "num" }, h)),
        el("th", {}, "agents"), el("th", {}, "outcome"),
        ...["score", "steps", "events", "tokens", "wall s"].map(
          (h) => el("th", { class: "num" }, h)),
      )),
      el("tbody", {}, rows.length ? rows
        : el("tr", {}, el("td", { colspan: 12, class: "empty" }, "No episode matches."))),
    ),
    pager(page, (o) => {
      const next = new URLSearchParams(params);
      next.set("offset", o);
      go(["run", run.run_id], next);
    }),
  );
}

// -- one episode: the timeline, one column per agent -----------------------------------

class Timeline {
  constructor(episode) {
    this.episode = episode;
    this.lanes = [...episode.lanes];
    this.parentOf = new Map();   // seq -> parent seq (or null)
    this.depth = new Map();      // seq -> nesting depth
    this.rows = new Map();       // seq -> row element
    this.children = new Map();   // seq -> number of children seen
    this.collapsed = new Set();
    this.nextAfter = -1;
    this.done = false;
    this.loading = false;
    this.filter = { kind: "", agent: "" };
    this.root = el("div", { id: "timeline" });
    this.head = el("div", { class: "tl-head" });
    this.root.append(this.head);
    this.state = el("div", { class: "load-state", id: "load-state" });
    this.more = el("button", { type: "button", id: "load-more", onclick: () => this.load() },
      "load more events");
    this.renderHead();
  }

  laneOf(agent) {
    let index = this.lanes.indexOf(agent);
    if (index >= 0) return index;
    // an internal agent (root/team/member) goes right after its root's last lane
    const root = agent.split("/")[0];
    let at = this.lanes.length;
    for (let i = this.lanes.length - 1; i >= 0; i--) {
      if (this.lanes[i] === root || this.lanes[i].startsWith(root + "/")) { at = i + 1; break; }
    }
    this.lanes.splice(at, 0, agent);
    this.renderHead();
    for (const row of this.rows.values()) {
      const card = row.querySelector(".ev");
      card.style.gridColumn = String(this.lanes.indexOf(card.dataset.agent) + 3);
    }
    return at;
  }

  renderHead() {
    this.root.style.setProperty("--lanes", String(this.lanes.length));
    this.head.replaceChildren(el("div", {}, "#"), el("div", {}, "step"),
      ...this.lanes.map((lane) => el("div", { class: "lane-name", dataset: { lane } }, lane)));
  }

  isHidden(seq) {
    let parent = this.parentOf.get(seq);
    while (parent !== null && parent !== undefined) {
      if (this.collapsed.has(parent)) return true;
      parent = this.parentOf.get(parent);
    }
    return false;
  }

  refreshVisibility() {
    for (const [seq, row] of this.rows) row.classList.toggle("hidden", this.isHidden(seq));
  }

  toggle(seq) {
    if (this.collapsed.has(seq)) this.collapsed.delete(seq);
    else this.collapsed.add(seq);
    const row = this.rows.get(seq);
    const button = row && row.querySelector(".toggle");
    if (button) {
      button.textContent = this.collapsed.has(seq) ? "▸" : "▾";
      button.setAttribute("aria-expanded", String(!this.collapsed.has(seq)));
    }
    this.refreshVisibility();
  }

  setAll(collapsed) {
    this.collapsed = new Set(collapsed ? [...this.children.keys()] : []);
    for (const seq of this.children.keys()) {
      const button = this.rows.get(seq).querySelector(".toggle");
      button.textContent = collapsed ? "▸" : "▾";
      button.setAttribute("aria-expanded", String(!collapsed));
    }
    this.refreshVisibility();
  }

  addToggle(seq) {
    const row = this.rows.get(seq);
    if (!row || row.querySelector(".toggle")) return;
    const button = el("button", {
      type: "button", class: "toggle", title: "collapse / expand what this event caused",
      "aria-expanded": "true",
      onclick: (event) => { event.stopPropagation(); this.toggle(seq); },
    }, "▾");
    row.querySelector(".ev-top").prepend(button);
  }

  facts(e) {
    const f = e.facts || {};
    const badges = [];
    if (f.input_tokens !== undefined && (f.input_tokens || f.output_tokens)) {
      badges.push(el("span", { class: "badge tokens" }, `${f.input_tokens}+${f.output_tokens} tok`));
    }
    if (e.duration_s) badges.push(el("span", { class: "badge latency" }, fmt.secs(e.duration_s)));
    if (f.tool) badges.push(el("span", { class: "badge tool" }, f.tool));
    if (f.decision) badges.push(el("span", { class: `badge ${f.decision}` }, f.decision));
    if (f.passed !== undefined && f.passed !== null) {
      badges.push(el("span", { class: `badge ${f.passed ? "passed" : "violated"}` },
        f.passed ? "passed" : "violated"));
    }
    if (f.fault) badges.push(el("span", { class: "badge error" }, `fault: ${f.fault}`));
    if (e.kind === "workspace" && f.files !== undefined) {
      badges.push(el("span", { class: "badge tool" }, `${f.files} files${f.truncated ? " (truncated)" : ""}`));
    }
    if (f.outcome) badges.push(el("span", { class: `badge ${f.outcome}` }, f.outcome));
    if (e.kind === "score" && f.value !== undefined) {
      badges.push(el("span", { class: `badge ${f.success ? "success" : "failure"}` },
        `score ${fmt.num(f.value)}`));
    }
    if (f.error && !f.outcome) badges.push(el("span", { class: "badge error" }, "error"));
    return badges;
  }

  add(e) {
    const parent = e.parent ?? null;
    this.parentOf.set(e.seq, parent);
    const depth = parent !== null && this.depth.has(parent) ? this.depth.get(parent) + 1 : 0;
    this.depth.set(e.seq, depth);
    const lane = this.laneOf(e.agent);
    const card = el("div", {
      class: `ev k-${e.kind}${e.facts && e.facts.error ? " is-error" : ""}`,
      dataset: { agent: e.agent, kind: e.kind, depth },
      style: `grid-column: ${lane + 3}; margin-left: ${0.4 + Math.min(depth, 10) * 0.9}rem`,
      title: "show this event's JSON",
      onclick: () => openJson(this, e.seq),
    },
    el("div", { class: "ev-top" },
      el("span", { class: "kind" }, e.kind),
      parent !== null ? el("span", { class: "nest" }, `↳ #${parent}`) : null,
      ...this.facts(e),
    ),
    el("div", { class: "summary" }, e.summary),
    );
    const row = el("div", {
      class: "tl-row", dataset: { seq: e.seq, parent: parent ?? "", agent: e.agent, kind: e.kind },
    },
    el("div", { class: "tl-seq" }, `#${e.seq}`),
    el("div", { class: "tl-step" }, `s${e.step}`),
    card,
    );
    this.rows.set(e.seq, row);
    if (this.isHidden(e.seq)) row.classList.add("hidden");
    this.root.append(row);
    if (parent !== null && this.rows.has(parent)) {
      this.children.set(parent, (this.children.get(parent) || 0) + 1);
      this.addToggle(parent);
    }
  }

  async load() {
    if (this.loading || this.done) return;
    this.loading = true;
    this.more.disabled = true;
    try {
      const page = await api("events", {
        episode: this.episode.id, after_seq: this.nextAfter, limit: EVENTS_PAGE,
        kind: this.filter.kind, agent: this.filter.agent,
      });
      page.items.forEach((e) => this.add(e));
      if (page.next_after_seq === null) this.done = true;
      else this.nextAfter = page.next_after_seq;
    } catch (error) {
      showError(error);  // the "load more" button stays, to try again
    } finally {
      this.loading = false;
      this.more.disabled = this.done;
      this.more.hidden = this.done;
      const shown = this.rows.size;
      const total = this.episode.n_events;
      this.state.textContent = this.done
        ? `${fmt.int(shown)} events shown${shown < total ? ` (of ${fmt.int(total)}, filtered)` : ""}`
        : `${fmt.int(shown)} of ${fmt.int(total)} events loaded`;
    }
  }
}

async function renderEpisode(id, params, token) {
  const episode = await api("episode", { id });
  if (token !== renderToken) return;
  crumbs({ label: "runs", href: "#/" },
    { label: episode.run_id, href: `#/run/${encodeURIComponent(episode.run_id)}` },
    { label: episode.episode_id });
  const timeline = new Timeline(episode);
  timeline.filter.kind = params.get("kind") || "";
  timeline.filter.agent = params.get("agent") || "";
  const refilter = (name, value) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value); else next.delete(name);
    go(["episode", id], next);
  };
  const kindSelect = el("select", { id: "kind-filter", onchange: (ev) => refilter("kind", ev.target.value) },
    el("option", { value: "" }, "all kinds"), ...KINDS.map((k) => el("option", { value: k }, k)));
  kindSelect.value = timeline.filter.kind;
  const agentSelect = el("select", { id: "agent-filter", onchange: (ev) => refilter("agent", ev.target.value) },
    el("option", { value: "" }, "all agents"),
    ...episode.lanes.map((a) => el("option", { value: a }, a)));
  agentSelect.value = timeline.filter.agent;
  const tokens = episode.input_tokens + episode.output_tokens;

  main().replaceChildren(
    el("div", { class: "episode-head" },
      el("h1", {}, episode.episode_id, " ", outcomeBadge(episode)),
      el("div", { class: "cards", id: "episode-summary" },
        card("env", episode.env), card("task", episode.task), card("seed", episode.seed),
        card("epoch", episode.epoch), card("reason", episode.reason || "–"),
        card("score", fmt.num(episode.score)), card("steps", episode.steps),
        card("events", fmt.int(episode.n_events)), card("tokens", fmt.int(tokens)),
        card("wall", fmt.secs(episode.wall_s) || "–"),
      ),
      episode.error ? el("div", { class: "error-text", id: "episode-error" }, episode.error) : null,
    ),
    el("div", { class: "toolbar" },
      kindSelect, agentSelect,
      el("button", { type: "button", id: "collapse-all", onclick: () => timeline.setAll(true) }, "collapse all"),
      el("button", { type: "button", id: "expand-all", onclick: () => timeline.setAll(false) }, "expand all"),
      el("span", { class: "muted" }, "click an event for its JSON; ▾ folds what it caused"),
    ),
    el("div", { class: "timeline-wrap" }, timeline.root),
    timeline.state,
    timeline.more,
  );
  await timeline.load();
  // load further pages as the end of the timeline scrolls into view
  const observer = new IntersectionObserver((entries) => {
    if (token !== renderToken) { observer.disconnect(); return; }
    if (entries.some((entry) => entry.isIntersecting)) timeline.load();
  });
  observer.observe(timeline.more);
  const seq = params.get("seq");
  if (seq !== null) {
    const number = wholeNumber(seq, null);
    if (number === null) showError(`seq ${JSON.stringify(seq)} in the address is not an event number`);
    else openJson(timeline, number);
  }
}

// -- the JSON panel --------------------------------------------------------------------

let selectedRow = null;

async function openJson(timeline, seq) {
  const panel = $("#json-panel");
  const view = $("#json-view");
  if (selectedRow) selectedRow.classList.remove("selected");
  selectedRow = timeline.rows.get(seq) || null;
  if (selectedRow) selectedRow.classList.add("selected");
  panel.hidden = false;
  $("#json-title").textContent = `event #${seq}`;
  view.textContent = "loading…";
  try {
    const data = await api("event", { episode: timeline.episode.id, seq });
    $("#json-title").textContent = `event #${seq} · ${data.kind} · ${data.agent}`;
    view.textContent = JSON.stringify(data, null, 2);
    const parentButton = $("#json-parent");
    parentButton.hidden = data.parent === null || data.parent === undefined;
    parentButton.textContent = `parent #${data.parent}`;
    parentButton.onclick = () => {
      const row = timeline.rows.get(data.parent);
      if (row) row.scrollIntoView({ block: "center" });
      openJson(timeline, data.parent);
    };
  } catch (error) {
    view.textContent = String(error.message || error);
    showError(error);
  }
}

function closeJson() {
  $("#json-panel").hidden = true;
  if (selectedRow) selectedRow.classList.remove("selected");
  selectedRow = null;
}

$("#json-close").addEventListener("click", closeJson);
$("#json-copy").addEventListener("click", () => {
  if (navigator.clipboard) navigator.clipboard.writeText($("#json-view").textContent);
});
document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeJson(); });
// Anything that still escapes (a bug) says so in the banner rather than leaving a blank page.
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
window.addEventListener("error", (event) => showError(event.error || event.message));
window.addEventListener("hashchange", route);
route();
