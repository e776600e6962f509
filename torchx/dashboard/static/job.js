// The job page: status per role and replica (every 2 s), the AppDef, the log of one replica
// following live (only the newest lines are fetched and kept), cancel and delete.
"use strict";

const HANDLE = new URLSearchParams(location.search).get("handle") || "";
const STATUS_MS = 2000;
const MAX_LOG_LINES = 5000;
const logBox = document.getElementById("log");
const targetSel = document.getElementById("log-target");
const streamSel = document.getElementById("log-stream");
const regexIn = document.getElementById("log-regex");
const followBox = document.getElementById("log-follow");
let current = null;      // the last /api/job answer
let logGen = 0;          // bumps on every change of replica/stream/filter: old loops stop

function showError(msg) {
  const p = document.getElementById("page-error");
  p.hidden = !msg;
  setText(p, msg || "");
}

function summaryRow(dl, label, value) {
  if (value === null || value === undefined || value === "") return;
  dl.append(el("dt", null, label), el("dd", null, value));
}

function renderSummary(job) {
  const s = job.status;
  const dl = document.getElementById("summary");
  const rows = document.createDocumentFragment();
  const box = document.createElement("dl");
  summaryRow(box, "handle", job.handle);
  summaryRow(box, "scheduler", job.scheduler);
  summaryRow(box, "app id", job.app_id);
  summaryRow(box, "restarts", s.num_restarts);
  summaryRow(box, s.state === "PENDING" ? "pending reason" : "message", s.msg || (s.state === "PENDING" ? "(the scheduler gives none)" : ""));
  summaryRow(box, "error", s.error);
  if (s.ui_url) {
    box.append(el("dt", null, "scheduler UI"));
    const dd = el("dd");
    if (/^https?:\/\//i.test(s.ui_url)) {
      const a = el("a", null, s.ui_url);
      a.href = s.ui_url;
      a.rel = "noopener noreferrer";
      dd.append(a);
    } else {
      dd.textContent = s.ui_url;
    }
    box.append(dd);
  }
  rows.append(...box.childNodes);
  dl.replaceChildren(rows);
}

function renderReplicas(status) {
  const tbody = document.querySelector("#replicas tbody");
  const trs = [];
  for (const role of status.roles) {
    for (const rep of role.replicas) {
      const tr = document.createElement("tr");
      const st = el("span", stateClass(rep.state), rep.state);
      const stTd = el("td");
      stTd.append(st);
      tr.append(
        el("td", null, role.role), el("td", "num", rep.id), stTd,
        el("td", "num", rep.exit_code === null ? "-" : rep.exit_code),
        el("td", "num", rep.num_restarts), el("td", null, rep.hostname || "-"),
        el("td", "err", rep.error || ""));
      trs.push(tr);
    }
  }
  if (!trs.length) {
    const tr = document.createElement("tr");
    const td = el("td", "muted", "the scheduler reports no replicas (yet)");
    td.colSpan = 7;
    tr.append(td);
    trs.push(tr);
  }
  tbody.replaceChildren(...trs);
}

function renderTargets(targets) {
  const values = [];
  for (const t of targets) for (const k of t.replicas) values.push([t.role, k]);
  const key = JSON.stringify(values);
  if (targetSel.dataset.key === key) return;
  targetSel.dataset.key = key;
  const keep = targetSel.value;
  targetSel.replaceChildren(...values.map(([role, k]) => {
    const o = el("option", null, role + "/" + k);
    o.value = JSON.stringify([role, k]);
    return o;
  }));
  if (keep && values.some(v => JSON.stringify(v) === keep)) targetSel.value = keep;
  if (targetSel.value !== keep) restartLog();
}

function renderActions(status) {
  const cancel = document.getElementById("cancel");
  const del = document.getElementById("delete");
  cancel.hidden = status.terminal;
  del.hidden = !status.terminal;
}

async function refreshJob() {
  if (!HANDLE) {
    showError("no job given: open a job from the list");
    return;
  }
  const updated = document.getElementById("updated");
  try {
    const job = await api("/api/job?handle=" + encodeURIComponent(HANDLE));
    current = job;
    showError("");
    document.title = (job.app && job.app.name ? job.app.name : job.app_id) + " · torchx dashboard";
    setText(document.getElementById("title"), job.app_id);
    const state = document.getElementById("state");
    state.className = stateClass(job.status.state);
    setText(state, job.status.state);
    renderSummary(job);
    renderReplicas(job.status);
    renderTargets(job.log_targets);
    renderActions(job.status);
    const appdef = document.getElementById("appdef");
    setText(appdef, job.app ? JSON.stringify(job.app, null, 2) : (job.app_error || "the scheduler does not describe this job"));
    updated.className = "muted";
    setText(updated, "updated " + clock());
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e.status === 404 || e.status === 400) showError(e.message);
    updated.className = "error";
    setText(updated, e.message);
  }
  setTimeout(refreshJob, STATUS_MS);
}

// ---- logs

function appendLines(lines) {
  if (!lines.length) return;
  const frag = document.createDocumentFragment();
  for (const line of lines) frag.append(el("div", "line", line));
  logBox.append(frag);
  let extra = logBox.childElementCount - MAX_LOG_LINES;
  while (extra-- > 0) logBox.firstElementChild.remove();
}

function note(text) {
  const d = el("div", "line note", text);
  logBox.append(d);
}

function restartLog() {
  logGen++;
  logBox.replaceChildren();
  followLog(logGen);
}

async function followLog(gen) {
  if (!targetSel.value) return;
  const [role, replica] = JSON.parse(targetSel.value);
  const info = document.getElementById("log-info");
  let after = null, tailId = null;
  setText(info, "loading…");
  while (gen === logGen) {
    const q = new URLSearchParams({ handle: HANDLE, role, replica, stream: streamSel.value, regex: regexIn.value });
    if (after !== null) q.set("after", after);
    if (tailId !== null) q.set("tail_id", tailId);
    let r;
    try {
      r = await api("/api/logs?" + q.toString());
    } catch (e) {
      if (gen !== logGen) return;
      info.className = "error";
      setText(info, e.message);
      if (e.status === 400 || e.status === 404) return;
      await new Promise(res => setTimeout(res, 2000));
      continue;
    }
    if (gen !== logGen) return;
    if (r.reset) logBox.replaceChildren();
    if (after === null && r.first > 0) note("… " + r.first + " earlier lines not shown (this is the tail)");
    if (r.skipped > 0) note("… " + r.skipped + " lines skipped to keep up");
    appendLines(r.lines);
    if (followBox.checked && r.lines.length) logBox.scrollTop = logBox.scrollHeight;
    after = r.next;
    tailId = r.tail_id;
    info.className = r.error ? "error" : "muted";
    setText(info, r.error ? r.error : (r.done ? "end of log · " : "following · ") + after + " lines" + (regexIn.value ? " matching" : ""));
    if (r.done && !r.lines.length) return;
    if (!r.lines.length) await new Promise(res => setTimeout(res, 500));
  }
}

// ---- actions

function armed(button, label, action) {
  let timer = null;
  const idle = button.textContent;
  button.addEventListener("click", async () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = label;
      timer = setTimeout(() => { button.classList.remove("armed"); button.textContent = idle; }, 5000);
      return;
    }
    clearTimeout(timer);
    button.classList.remove("armed");
    button.textContent = idle;
    button.disabled = true;
    const msg = document.getElementById("action-msg");
    try {
      const r = await action();
      msg.className = "muted";
      setText(msg, r.message);
    } catch (e) {
      msg.className = "error";
      setText(msg, e.message);
    } finally {
      button.disabled = false;
    }
  });
}

armed(document.getElementById("cancel"), "Click again to cancel", () => api("/api/cancel", { handle: HANDLE }));
armed(document.getElementById("delete"), "Click again to delete", async () => {
  const r = await api("/api/delete", { handle: HANDLE });
  setTimeout(() => { location.href = "/"; }, 800);
  return r;
});

let regexTimer = null;
regexIn.addEventListener("input", () => { clearTimeout(regexTimer); regexTimer = setTimeout(restartLog, 400); });
targetSel.addEventListener("change", restartLog);
streamSel.addEventListener("change", restartLog);
followBox.addEventListener("change", () => { if (followBox.checked) logBox.scrollTop = logBox.scrollHeight; });
refreshJob();
