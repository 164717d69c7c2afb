// polyroute dashboard: fetches the JSON endpoints and draws the page. No dependencies.
import {colour, shareBar, stackedBars} from "./chart.js";

const KEY = "polyroute-admin-key"; // sessionStorage: this tab only
const LIVE_MS = 3000;
const SUMMARY_MS = 15000;
const state = {days: 7, by: "provider", window: "5m", summary: null, endpoints: null, timers: []};

const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

async function api(path) {
  const headers = {Accept: "application/json"};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  const reply = await fetch(path, {headers, credentials: "same-origin", cache: "no-store"});
  if (reply.status === 401) throw new Unauthorized();
  if (!reply.ok) throw new Error(`${path}: HTTP ${reply.status}`);
  return reply.json();
}

// -- formatting --------------------------------------------------------------------------

const int = (n) => Number(n).toLocaleString("en-US");
const dollars = (text) => (text == null ? "–" : "$" + text); // exact decimal strings from the server
const pct = (ratio) => (ratio == null ? "–" : (ratio * 100).toFixed(ratio >= 0.9995 || ratio === 0 ? 0 : 1) + "%");

function seconds(s) {
  if (s == null) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  return s.toFixed(s < 10 ? 2 : 1) + " s";
}

// "2.35 / 2.71 s", "120 / 340 ms", or each with its unit when they differ
function secondsPair(a, b) {
  if (a == null) return "–";
  if (b == null) return seconds(a);
  const [x, y] = [seconds(a), seconds(b)];
  const unit = (t) => t.split(" ")[1];
  return unit(x) === unit(y) ? `${x.split(" ")[0]} / ${y}` : `${x} / ${y}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// "2026-03-10 09:11:43" -> "09:11:43" today, "Mar 9 14:02" on another day
function shortTime(stamp, today) {
  const [day, time] = stamp.split(" ");
  if (day === today) return time;
  const [, m, d] = day.split("-").map(Number);
  return `${MONTHS[m - 1]} ${d} ${time.slice(0, 5)}`;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.appendChild(text);
  else td.textContent = text;
  tr.appendChild(td);
  return td;
}

function fillBody(table, rows, empty, columns) {
  const body = table.tBodies[0];
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = cell(tr, empty, "empty");
    td.colSpan = columns;
  }
  return body;
}

// -- summary: totals, spend chart, leaderboard, recent calls -----------------------------

function renderTotals(s) {
  const t = s.totals;
  $("kpi-spend").textContent = dollars(t.spend);
  $("kpi-requests").textContent = int(t.requests);
  $("kpi-success").textContent = t.requests ? pct(t.succeeded / t.requests) : "–";
  $("kpi-tokens").textContent = int(t.total_tokens);
  $("kpi-attempts").textContent = int(t.attempts);
  $("kpi-attempts").title = `${int(t.failed_attempts)} failed` + (t.unpriced ? `, ${int(t.unpriced)} unpriced` : "");
}

function renderSpend() {
  const s = state.summary;
  if (!s) return;
  const spend = s.spend[state.by];
  const series = spend.series.map((x) => ({
    name: x.name, other: !!x.other, values: x.values.map(Number), title: x.values.map((v) => "$" + v),
  }));
  stackedBars($("spend-chart"), {labels: s.days, series}, {empty: s.ledger ? "No spend in this window" : "No ledger configured"});
  const legend = $("spend-legend");
  legend.replaceChildren();
  spend.series.forEach((x, i) => {
    const li = document.createElement("li");
    li.dataset.series = x.name;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour(i, x.other);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = x.name;
    name.title = x.name;
    const total = document.createElement("span");
    total.className = "amount";
    total.textContent = dollars(x.total);
    li.append(swatch, name, total);
    legend.appendChild(li);
  });
}

function renderLeaderboard(s) {
  const body = fillBody($("leaderboard"), s.leaderboard, "No calls in this window", 6);
  s.leaderboard.forEach((e, i) => {
    const tr = body.insertRow();
    tr.dataset.model = e.model;
    cell(tr, String(e.rank), "rank");
    cell(tr, e.model, "model").title = e.model;
    cell(tr, int(e.total_tokens), "num tokens").title = `${int(e.prompt_tokens)} prompt + ${int(e.completion_tokens)} completion`;
    const share = cell(tr, shareBar(Number(e.share), colour(i, false)), "share");
    const label = document.createElement("span");
    label.textContent = e.share + "%";
    share.appendChild(label);
    cell(tr, int(e.requests), "num requests");
    cell(tr, dollars(e.cost), "num cost");
  });
}

function routeCell(call) {
  const box = document.createElement("span");
  box.className = "route";
  call.route.forEach((a, i) => {
    if (i) box.append(" → ");
    const chip = document.createElement("span");
    chip.className = "hop " + a.outcome;
    const mark = a.outcome === "success" ? "✓" : a.outcome === "skipped" ? "–" : "✗";
    chip.textContent = `${a.provider} ${mark}` + (a.status && a.outcome !== "success" ? " " + a.status : "");
    chip.title = `${a.provider}/${a.endpoint_model}: ${a.outcome}` + (a.error ? ` (${a.error})` : "") +
      (a.latency_s != null ? `, ${seconds(a.latency_s)}` : "");
    box.appendChild(chip);
  });
  return box;
}

function renderCalls(s) {
  const body = fillBody($("calls"), s.calls, "No calls in this window", 7);
  for (const c of s.calls) {
    const tr = body.insertRow();
    tr.dataset.id = c.id;
    tr.className = c.outcome;
    cell(tr, shortTime(c.time, s.days[s.days.length - 1]), "time").title = c.time + " UTC";
    cell(tr, c.model, "model").title = c.model;
    cell(tr, routeCell(c), "route-cell");
    cell(tr, String(c.attempts), "num attempts");
    cell(tr, int(c.total_tokens), "num tokens");
    cell(tr, dollars(c.cost), "num cost");
    const who = [c.key, c.user].filter(Boolean).join(" · ") || "–";
    cell(tr, who, "caller").title = who;
  }
}

async function loadSummary() {
  const s = await api(`api/v1/dashboard/summary?days=${state.days}`);
  state.summary = s;
  renderTotals(s);
  renderSpend();
  renderLeaderboard(s);
  renderCalls(s);
  const when = new Date(s.generated_at * 1000).toISOString().slice(11, 19);
  $("updated").textContent = `updated ${when} UTC`;
  document.body.dataset.summary = String(Number(document.body.dataset.summary || 0) + 1);
}

// -- live endpoints ---------------------------------------------------------------------

function renderEndpoints() {
  const list = state.endpoints || [];
  const body = fillBody($("endpoints"), list, "No endpoints", 8);
  for (const e of list) {
    const w = e.windows[state.window] || {};
    const tr = body.insertRow();
    tr.dataset.key = e.key;
    const name = document.createElement("span");
    const provider = document.createElement("b");
    provider.textContent = e.provider;
    const model = document.createElement("span");
    model.className = "ep-model";
    model.textContent = e.model;
    name.append(provider, model);
    cell(tr, name, "endpoint").title = e.key;
    const breaker = document.createElement("span");
    breaker.className = "breaker " + e.breaker;
    breaker.textContent = e.breaker.replace("_", "-");
    cell(tr, breaker);
    cell(tr, String(e.in_flight), "num inflight");
    cell(tr, int(w.attempts || 0), "num attempts");
    cell(tr, pct(w.success_ratio), "num success");
    cell(tr, seconds(w.ttft_p50), "num ttft");
    cell(tr, secondsPair(w.latency_p50, w.latency_p95), "num latency");
    cell(tr, w.throughput_p50 == null ? "–" : w.throughput_p50.toFixed(0), "num throughput");
  }
}

async function loadEndpoints() {
  const data = await api("api/v1/dashboard/endpoints");
  state.endpoints = data.endpoints;
  renderEndpoints();
  document.body.dataset.endpoints = String(Number(document.body.dataset.endpoints || 0) + 1);
}

// -- wiring -----------------------------------------------------------------------------

function notice(text) {
  const p = $("notice");
  p.textContent = text || "";
  p.hidden = !text;
}

function signedOut() {
  for (const t of state.timers) clearTimeout(t);
  state.timers = [];
  $("main").hidden = true;
  $("signin").hidden = false;
  document.body.dataset.state = "signin";
  $("signin-key").focus();
}

function every(ms, load) {
  const tick = async () => {
    if (!document.hidden) {
      try {
        await load();
        notice("");
      } catch (err) {
        if (err instanceof Unauthorized) return signedOut();
        notice("Could not refresh: " + err.message);
      }
    }
    state.timers.push(setTimeout(tick, ms));
  };
  state.timers.push(setTimeout(tick, ms));
}

async function start() {
  try {
    await Promise.all([loadSummary(), loadEndpoints()]);
  } catch (err) {
    if (err instanceof Unauthorized) {
      if (sessionStorage.getItem(KEY)) {
        sessionStorage.removeItem(KEY);
        $("signin-error").hidden = false;
      }
      return signedOut();
    }
    notice("Could not load the dashboard: " + err.message);
  }
  $("signin").hidden = true;
  $("main").hidden = false;
  renderSpend(); // sized now that the panel is visible
  document.body.dataset.state = "ready";
  every(LIVE_MS, loadEndpoints);
  every(SUMMARY_MS, loadSummary);
}

function pressed(group, attr, value) {
  for (const b of group.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset[attr] === value));
}

$("spend-by").addEventListener("click", (ev) => {
  const by = ev.target.closest("button")?.dataset.by;
  if (!by) return;
  state.by = by;
  pressed($("spend-by"), "by", by);
  renderSpend();
});

$("window").addEventListener("click", (ev) => {
  const w = ev.target.closest("button")?.dataset.window;
  if (!w) return;
  state.window = w;
  pressed($("window"), "window", w);
  renderEndpoints();
});

$("days").addEventListener("change", () => {
  state.days = Number($("days").value);
  loadSummary().catch((err) => (err instanceof Unauthorized ? signedOut() : notice(err.message)));
});

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("signin-key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  $("signin-key").value = "";
  $("signin-error").hidden = true;
  start();
});

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderSpend, 100);
});

start();
