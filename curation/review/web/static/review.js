// carscout review page: a grid of the open queue, one key per decision, several photos at once.
// Every decision is a POST to the server, which applies it through the terminal review's own
// functions; this script only shows the queue and sends keys.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const PAGE = 60;
const state = {
  offset: 0, total: 0, items: [], groups: {}, knownLabels: [],
  focus: null, anchor: null, selected: new Set(), outcome: new Map(), relabelFor: null,
};
const $ = (id) => document.getElementById(id);
const grid = $("grid");

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function api(path, body) {
  const options = { headers: { "X-Review-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  // Requests in flight, on <body data-busy>: tests and scripts wait for 0 between keys.
  document.body.dataset.busy = Number(document.body.dataset.busy || 0) + 1;
  try {
    const response = await fetch(path, options);
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    return { status: response.status, data };
  } catch (error) {
    return { status: 0, data: { error: `the review server does not answer (${error.message}); is carscout review --web still running?` } };
  } finally {
    document.body.dataset.busy = Number(document.body.dataset.busy) - 1;
  }
}

async function load() {
  const params = new URLSearchParams({ offset: state.offset, limit: PAGE });
  if ($("filter-reason").value) params.set("reason", $("filter-reason").value);
  if ($("filter-label").value) params.set("label", $("filter-label").value);
  const { status, data } = await api("/api/items?" + params);
  if (status !== 200) { say(data.error || "could not read the queue", true); return; }
  Object.assign(state, {
    items: data.items, total: data.total, offset: data.offset, groups: data.groups,
    knownLabels: data.known_labels, selected: new Set(), outcome: new Map(),
  });
  fillFilter($("filter-reason"), data.reasons);
  fillFilter($("filter-label"), data.labels);
  render();
  const first = openIds()[0];
  state.anchor = first === undefined ? null : first;
  setFocus(state.anchor, false);
}

function fillFilter(select, counts) {
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const [name, count] of Object.entries(counts)) select.add(new Option(`${name} (${count})`, name));
  if (chosen && !(chosen in counts)) select.add(new Option(`${chosen} (0)`, chosen));
  select.value = chosen;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function photo(imageId) {
  const img = el("img");
  img.loading = "lazy";
  img.alt = `image ${imageId}`;
  img.src = `/image/${imageId}?size=thumb`;
  img.addEventListener("dblclick", () => window.open(`/image/${imageId}?size=full`, "_blank"));
  return img;
}

function card(item, keptImageId) {
  const node = el("div", "card");
  node.dataset.id = item.id;
  node.append(photo(item.image_id));
  const meta = el("div", "meta");
  const label = el("div", "label", item.label);
  const suggestion = item.suggested_label || (item.reason === "not a car?" ? "reject" : "");
  if (suggestion === item.label) {
    label.append(el("span", "arrow", "  ✓ keep?"));
  } else if (suggestion) {
    label.append(el("span", "arrow", "  →  "), el("span", "", `${suggestion}?`));
  }
  const why = el("div", "why");
  why.append(el("b", "", item.reason), ` · score ${item.score.toFixed(3)} · #${item.id}`);
  meta.append(label, why, el("div", "title", item.title || "(no listing)"));
  node.append(meta);
  if (item.image_id === keptImageId) node.append(el("span", "badge kept", "kept copy"));
  if (item.state === "skipped") node.append(el("span", "badge skip", "skipped before"));
  node.addEventListener("click", (event) => clicked(item.id, event));
  return node;
}

function reference(member, keptImageId) {
  const node = el("div", "ref");
  node.append(photo(member.image_id));
  const meta = el("div", "meta");
  meta.append(el("div", "label", member.label || "?"),
    el("div", "why", `image ${member.image_id} · ${member.status}` +
      (member.item_id ? "" : " · not in the queue")));
  node.append(meta);
  if (member.image_id === keptImageId) node.append(el("span", "badge kept", "kept copy"));
  return node;
}

function render() {
  grid.replaceChildren();
  const byId = new Map(state.items.map((item) => [item.id, item]));
  const drawnGroups = new Set();
  for (const item of state.items) {
    if (item.group_id == null || !state.groups[item.group_id]) {
      grid.append(card(item, null));
      continue;
    }
    if (drawnGroups.has(item.group_id)) continue;
    drawnGroups.add(item.group_id);
    const group = state.groups[item.group_id];
    const box = el("section", "group");
    const labels = [...new Set(group.members.map((m) => m.label))].join(" / ");
    box.append(el("h2", "", `Near-duplicate group ${item.group_id} — labels: ${labels}`));
    const members = el("div", "members");
    for (const member of group.members) {
      const onPage = member.item_id != null && byId.get(member.item_id);
      members.append(onPage ? card(onPage, group.kept_image_id) : reference(member, group.kept_image_id));
    }
    box.append(members);
    grid.append(box);
  }
  if (!state.items.length) grid.append(el("p", "empty", "Nothing open here: the queue (with these filters) is done."));
  const end = state.offset + state.items.length;
  $("range").textContent = state.items.length ? `${state.offset + 1}–${end} of ${state.total}` : "";
  $("prev").disabled = state.offset === 0;
  $("next").disabled = end >= state.total;
  paint();
}

function cards() { return [...grid.querySelectorAll(".card")]; }
function cardOf(id) { return grid.querySelector(`.card[data-id="${id}"]`); }
function orderIds() { return cards().map((node) => Number(node.dataset.id)); }
function openIds() { return orderIds().filter((id) => !isDecided(id)); }
function isDecided(id) { const o = state.outcome.get(id); return Boolean(o) && o !== "skip"; }

function paint() {
  const decided = [...state.outcome.keys()].filter(isDecided).length;
  $("progress").textContent = `${state.total - decided} open` +
    (state.selected.size ? ` · ${state.selected.size} selected` : "");
  for (const node of cards()) {
    const id = Number(node.dataset.id);
    node.classList.toggle("focus", id === state.focus);
    node.classList.toggle("selected", state.selected.has(id));
    node.classList.toggle("decided", isDecided(id));
    node.setAttribute("aria-selected", state.selected.has(id) ? "true" : "false");
    let badge = node.querySelector(".badge.outcome");
    const outcome = state.outcome.get(id);
    if (!outcome) { if (badge) badge.remove(); continue; }
    if (!badge) { badge = el("span", "badge outcome"); node.append(badge); }
    badge.className = `badge outcome ${outcome.split(" ")[0]}`;
    badge.textContent = outcome;
  }
}

function setFocus(id, scroll = true) {
  state.focus = id;
  paint();
  const node = id == null ? null : cardOf(id);
  if (node && scroll) node.scrollIntoView({ block: "nearest" });
}

function range(from, to) {
  const ids = orderIds();
  const [a, b] = [ids.indexOf(from), ids.indexOf(to)].sort((x, y) => x - y);
  return a < 0 ? [to] : ids.slice(a, b + 1);
}

function clicked(id, event) {
  if (event.shiftKey && state.anchor != null) {
    state.selected = new Set(range(state.anchor, id));
  } else if (event.ctrlKey || event.metaKey) {
    state.selected.has(id) ? state.selected.delete(id) : state.selected.add(id);
    state.anchor = id;
  } else {
    state.selected = new Set();
    state.anchor = id;
  }
  setFocus(id, false);
}

function neighbour(id, key) {
  const ids = orderIds();
  const index = ids.indexOf(id);
  if (index < 0) return ids[0];
  if (key === "ArrowLeft") return ids[Math.max(0, index - 1)];
  if (key === "ArrowRight") return ids[Math.min(ids.length - 1, index + 1)];
  const here = cardOf(id).getBoundingClientRect();
  const down = key === "ArrowDown";
  let best = id, bestScore = Infinity;
  for (const other of ids) {
    const box = cardOf(other).getBoundingClientRect();
    const dy = down ? box.top - here.top : here.top - box.top;
    if (dy < 10) continue;
    const score = dy * 10 + Math.abs(box.left - here.left);
    if (score < bestScore) { best = other; bestScore = score; }
  }
  return best;
}

function move(key, extend) {
  if (state.focus == null) { setFocus(orderIds()[0]); return; }
  const next = neighbour(state.focus, key);
  if (extend) {
    if (state.anchor == null) state.anchor = state.focus;
    state.selected = new Set(range(state.anchor, next));
  } else {
    state.anchor = next;
  }
  setFocus(next);
}

function targets() {
  const chosen = state.selected.size ? orderIds().filter((id) => state.selected.has(id)) : [state.focus];
  return chosen.filter((id) => id != null && !isDecided(id));
}

async function decide(action, newLabel = null, allowNew = false) {
  const items = targets();
  if (!items.length) { say("Nothing open selected.", true); return; }
  const { status, data } = await api("/api/decide",
    { items, action, new_label: newLabel, allow_new_label: allowNew });
  if (status === 409) { relabelProblem(data); return; }
  if (status !== 200) { say(data.error || `HTTP ${status}`, true); return; }
  closeRelabel();
  for (const d of data.decided) {
    state.outcome.set(d.item_id, d.action === "relabel" ? `relabel → ${d.new_label}` : d.action);
  }
  const refused = Object.entries(data.refused);
  for (const [id] of refused) state.outcome.set(Number(id), "decided elsewhere");
  const verb = { keep: "kept", reject: "rejected", skip: "skipped", relabel: `relabelled to ${newLabel}` }[action];
  say(`${data.decided.length} ${verb}` + (refused.length
    ? `; refused: ${refused.map(([id, why]) => `#${id} ${why}`).join("; ")}` : ""), refused.length > 0);
  state.selected = new Set();
  const ids = orderIds();
  const last = ids.indexOf(items[items.length - 1]);
  const after = ids.slice(last + 1).concat(ids.slice(0, last + 1)).find((id) => !isDecided(id) && state.outcome.get(id) !== "skip");
  if (after === undefined && !openIds().length) { await load(); return; }
  state.anchor = after ?? null;
  setFocus(after ?? null);
}

async function undo() {
  const { status, data } = await api("/api/undo", {});
  if (status !== 200) { say(data.error || `HTTP ${status}`, true); return; }
  if (!data.undone.length) { say("Nothing to undo."); return; }
  const missing = data.undone.filter((d) => !cardOf(d.item_id));
  for (const d of data.undone) state.outcome.delete(d.item_id);
  say(`Undid ${data.undone.map((d) => `${d.action} of #${d.item_id}`).join(", ")}.`);
  if (missing.length) { await load(); return; }
  setFocus(data.undone[data.undone.length - 1].item_id);
}

// --- relabel ---------------------------------------------------------------------------------

function relabelChoices() {
  const items = targets().map((id) => state.items.find((item) => item.id === id)).filter(Boolean);
  const suggested = items.map((item) => item.suggested_label).filter(Boolean);
  const current = new Set(items.map((item) => item.label));
  const ordered = [...new Set([...suggested, ...state.knownLabels])];
  return { ordered: ordered.filter((label) => !(items.length === 1 && current.has(label))).slice(0, 9),
           suggested: new Set(suggested), count: items.length };
}

function openRelabel() {
  const { ordered, suggested, count } = relabelChoices();
  if (!count) { say("Nothing open selected.", true); return; }
  state.relabelFor = ordered;
  $("relabel-title").textContent = `Relabel ${count} photo${count > 1 ? "s" : ""} to`;
  $("relabel-choices").replaceChildren(...ordered.map((label, i) =>
    el("li", "", `${i + 1}) ${label}${suggested.has(label) ? " (suggested)" : ""}`)));
  $("relabel-input").value = "";
  $("relabel-problem").textContent = "";
  $("relabel").hidden = false;
  $("relabel").dataset.pending = "";
}

function closeRelabel() { $("relabel").hidden = true; state.relabelFor = null; $("relabel-input").blur(); }

function relabelProblem(data) {
  if ($("relabel").hidden) openRelabel();
  $("relabel").dataset.pending = data.label;
  $("relabel").dataset.closest = data.closest || "";
  $("relabel-problem").textContent = data.error + (data.closest ? ` — Enter: use ${data.closest}` : "") +
    ` — y: start the new label '${data.label}' — Esc: cancel`;
  $("relabel-input").blur();
}

function relabelKey(event) {
  const panel = $("relabel");
  const input = $("relabel-input");
  if (event.key === "Escape") { closeRelabel(); say("Relabel cancelled."); return; }
  if (document.activeElement === input) {
    if (event.key === "Enter") { event.preventDefault(); if (input.value.trim()) decide("relabel", input.value.trim()); }
    return;
  }
  event.preventDefault();
  if (panel.dataset.pending) {
    if (event.key === "y" || event.key === "Y") decide("relabel", panel.dataset.pending, true);
    else if (event.key === "Enter" && panel.dataset.closest) decide("relabel", panel.dataset.closest);
    return;
  }
  if (event.key === "/") { input.focus(); return; }
  const n = Number(event.key);
  if (n >= 1 && n <= state.relabelFor.length) decide("relabel", state.relabelFor[n - 1]);
}

// --- keys and controls -------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (!$("relabel").hidden) { relabelKey(event); return; }
  if (event.target instanceof HTMLSelectElement) return;
  const key = event.key;
  if (key.startsWith("Arrow")) { event.preventDefault(); move(key, event.shiftKey); return; }
  const actions = { k: "keep", x: "reject", d: "reject", s: "skip", " ": "skip" };
  const lower = key.toLowerCase();
  if (lower in actions) { event.preventDefault(); decide(actions[lower]); }
  else if (lower === "r") { event.preventDefault(); openRelabel(); }
  else if (lower === "u") { event.preventDefault(); undo(); }
  else if (key === "Escape") { state.selected = new Set(); paint(); }
  else if (key === "PageDown") { event.preventDefault(); page(1); }
  else if (key === "PageUp") { event.preventDefault(); page(-1); }
});

function page(direction) {
  if (direction > 0) {
    if (state.offset + state.items.length >= state.total) return;
    state.offset += openIds().length || state.items.length;
  } else {
    state.offset = Math.max(0, state.offset - PAGE);
  }
  load().then(() => window.scrollTo(0, 0));
}

$("prev").addEventListener("click", () => page(-1));
$("next").addEventListener("click", () => page(1));
for (const id of ["filter-reason", "filter-label"]) {
  $(id).addEventListener("change", () => { state.offset = 0; $(id).blur(); load(); });
}
load();
