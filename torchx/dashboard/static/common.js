// Shared by both pages. Job data is only ever set with textContent: never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="torchx-token"]').content;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// GET (or POST with a JSON body) one API path; resolves to the parsed JSON, throws ApiError.
async function api(path, body) {
  const opts = { headers: { "X-TorchX-Token": TOKEN }, cache: "no-store" };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, "the dashboard server does not answer (stopped?)");
  }
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new ApiError(res.status, (data && data.error) || res.statusText);
  return data;
}

// An element with a class and text (never HTML).
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function setText(node, text) {
  const t = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== t) node.textContent = t;
}

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
  const s = Math.max(0, seconds);
  if (s >= 86400) return Math.floor(s / 86400) + "d";
  if (s >= 3600) return Math.floor(s / 3600) + "h";
  if (s >= 60) return Math.floor(s / 60) + "m";
  return Math.floor(s) + "s";
}

function stateClass(state) { return "state st-" + String(state).toLowerCase(); }

function clock() { return new Date().toLocaleTimeString(); }
