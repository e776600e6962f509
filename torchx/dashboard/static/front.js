// The front page: every job, refreshed every 2 s without reloading; rows are kept and only
// the cells that changed are touched, so 1,000 jobs stay cheap to refresh and filter.
"use strict";

const REFRESH_MS = 2000;
const STATES = ["SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "UNKNOWN", "UNSUBMITTED"];
const rows = new Map();  // handle -> {tr, state, age, replicas, job}
let order = [];           // handles in table order
let stateFilter = "";     // "" = all, "ACTIVE" = not ended, else one state
const tbody = document.querySelector("#jobs tbody");
const schedFilter = document.getElementById("sched-filter");

function newRow(job) {
  const tr = document.createElement("tr");
  const name = el("td", "name");
  const link = el("a", null, job.name || job.app_id);
  link.href = "/job?handle=" + encodeURIComponent(job.handle);
  link.title = job.name || job.app_id;
  name.append(link);
  const handle = el("td", "handle", job.handle);
  handle.title = job.handle;
  const stateTd = el("td");
  const state = el("span");
  stateTd.append(state);
  const age = el("td", "num");
  const replicas = el("td", "replicas");
  tr.append(name, handle, stateTd, age, replicas);
  return { tr, state, age, replicas, job: null };
}

function replicaText(job) {
  if (job.replicas === null || job.replicas === undefined) return "-";
  if (job.roles.length <= 1) return String(job.replicas);
  return job.replicas + " (" + job.roles.map(r => r[0] + "×" + r[1]).join(", ") + ")";
}

function update(row, job, now) {
  if (!row.job || row.job.state !== job.state) {
    row.state.className = stateClass(job.state);
    setText(row.state, job.state);
  }
  setText(row.age, fmtAge(job.created === null ? null : now - job.created));
  setText(row.replicas, replicaText(job));
  row.job = job;
}

function visible(job) {
  if (schedFilter.value && job.scheduler !== schedFilter.value) return false;
  if (stateFilter === "ACTIVE") return !TERMINAL.has(job.state);
  return !stateFilter || job.state === stateFilter;
}

function applyFilters() {
  let shown = 0;
  for (const row of rows.values()) {
    const v = visible(row.job);
    if (row.tr.hidden === v) row.tr.hidden = !v;
    if (v) shown++;
  }
  setText(document.getElementById("shown"), shown + " of " + rows.size + " jobs shown");
  document.getElementById("empty").hidden = rows.size !== 0;
}

function renderChips(counts, total) {
  const box = document.getElementById("state-filter");
  const want = [["", "all", total], ["ACTIVE", "active", STATES.filter(s => !TERMINAL.has(s)).reduce((a, s) => a + (counts[s] || 0), 0)]]
    .concat(STATES.filter(s => counts[s]).map(s => [s, s.toLowerCase(), counts[s]]));
  if (stateFilter && !want.some(w => w[0] === stateFilter)) want.push([stateFilter, stateFilter.toLowerCase(), 0]);
  const key = want.map(w => w.join(":")).join("|") + "/" + stateFilter;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...want.map(([value, label, n]) => {
    const b = el("button", "chip" + (value && value !== "ACTIVE" ? " " + stateClass(value) : ""), label + " " + n);
    b.type = "button";
    b.dataset.state = value;
    b.setAttribute("aria-pressed", String(value === stateFilter));
    b.addEventListener("click", () => { stateFilter = value; box.dataset.key = ""; refreshChips(); applyFilters(); });
    return b;
  }));
}

let lastCounts = {}, lastTotal = 0;
function refreshChips() { renderChips(lastCounts, lastTotal); }

function renderSchedulers(scheds) {
  const box = document.getElementById("schedulers");
  const key = JSON.stringify(scheds);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...scheds.map(s => {
    const card = el("div", "sched" + (s.error ? " bad" : ""));
    card.dataset.scheduler = s.name;
    const what = s.error ? "error" : s.loading ? "listing…" : s.count + (s.count === 1 ? " job" : " jobs");
    card.append(el("strong", null, s.name), el("span", "muted", what + (s.stale ? " (refreshing)" : "")));
    if (s.error) card.append(el("div", "sched-error", s.error));
    return card;
  }));
  const names = scheds.map(s => s.name);
  const have = Array.from(schedFilter.options).slice(1).map(o => o.value);
  if (have.join() !== names.join()) {
    const keep = schedFilter.value;
    schedFilter.replaceChildren(el("option", null, "all"), ...names.map(n => { const o = el("option", null, n); o.value = n; return o; }));
    schedFilter.options[0].value = "";
    schedFilter.value = names.includes(keep) ? keep : "";
  }
}

function render(data) {
  const now = data.now;
  const jobs = data.jobs.slice().sort((a, b) =>
    (b.created || 0) - (a.created || 0) || (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0));
  const seen = new Set();
  const counts = {};
  for (const job of jobs) {
    seen.add(job.handle);
    counts[job.state] = (counts[job.state] || 0) + 1;
    let row = rows.get(job.handle);
    if (!row) { row = newRow(job); rows.set(job.handle, row); }
    update(row, job, now);
  }
  for (const [handle, row] of rows) {
    if (!seen.has(handle)) { row.tr.remove(); rows.delete(handle); }
  }
  const newOrder = jobs.map(j => j.handle);
  if (newOrder.length !== order.length || newOrder.some((h, i) => h !== order[i])) {
    const frag = document.createDocumentFragment();
    for (const h of newOrder) frag.append(rows.get(h).tr);
    tbody.append(frag);
    order = newOrder;
  }
  lastCounts = counts; lastTotal = jobs.length;
  renderSchedulers(data.schedulers);
  refreshChips();
  applyFilters();
}

async function refresh() {
  const updated = document.getElementById("updated");
  try {
    const data = await api("/api/jobs");
    performance.mark("render-start");
    render(data);
    performance.measure("render", "render-start");
    if (!document.body.dataset.loaded) performance.mark("jobs-rendered");
    updated.className = "muted";
    setText(updated, "updated " + clock());
    document.body.dataset.loaded = "1";
  } catch (e) {
    updated.className = "error";
    setText(updated, e.message);
  }
  setTimeout(refresh, REFRESH_MS);
}

schedFilter.addEventListener("change", applyFilters);
refresh();
