// The dashboard page: reads the catalog, renders the current group's reports (chart + table),
// keeps filters in the URL, refreshes while the stream runs. No build step, no dependencies.
"use strict";

const REFRESH_MS = 5000;
const COLORS = ["#0057b7", "#e0a100", "#2e8540", "#b3261e", "#6b4fbb", "#00838f", "#8d6e63", "#5c6bc0"];
const group = location.pathname.replace(/^\/+|\/+$/g, "") || "operational";
const form = document.getElementById("filters");
const statusEl = document.getElementById("status");
let catalog = null;
let timer = null;

// -- formatting: money arrives as integer kopecks, never as float --
function money(k) {
  if (k === null || k === undefined) return "";
  const neg = k < 0, a = Math.abs(k);
  const whole = Math.floor(a / 100).toLocaleString("en-US");
  const cents = String(a % 100).padStart(2, "0");
  return (neg ? "-" : "") + whole + "." + cents;
}
function duration(us) {
  if (us === null || us === undefined) return "";
  const a = Math.abs(us);
  if (a >= 3600e6) return (us / 3600e6).toFixed(1) + " h";
  if (a >= 1e6) return (us / 1e6).toFixed(2) + " s";
  return (us / 1e3).toFixed(1) + " ms";
}
function when(v) {
  if (v === null || v === undefined || v === "") return "";
  const d = typeof v === "number" ? new Date(v / 1000) : new Date(v);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "").replace(/:00$/, "") + " UTC";
}
// Axis ticks: short (12.3k, 4.5M), money in UAH.
function compact(kind, v) {
  if (kind === "duration_us") return duration(v);
  const n = kind === "money" ? v / 100 : v, a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "B";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return Number(n.toFixed(a < 10 ? 2 : 0)).toString();
}
function fmt(kind, v) {
  if (v === null || v === undefined) return "";
  switch (kind) {
    case "money": return money(v);
    case "count": return Number(v).toLocaleString("en-US");
    case "percent": return Number(v).toFixed(2) + " %";
    case "ratio": return Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
    case "duration_us": return duration(v);
    case "time": return when(v);
    default: return String(v);
  }
}
const NUMERIC = new Set(["money", "count", "percent", "ratio", "duration_us"]);

// -- query string <-> filters --
function filterQuery(report) {
  const q = new URLSearchParams();
  const f = new FormData(form);
  const period = f.get("period");
  if (period === "custom") {
    if (f.get("since")) q.set("since", f.get("since") + "Z");
    if (f.get("until")) q.set("until", f.get("until") + "Z");
  } else q.set("period", period);
  for (const name of ["operator", "licence_kind", "game_type"]) {
    if (f.get(name) && (!report || report.filters.includes(name))) q.set(name, f.get(name));
  }
  if (f.get("granularity")) q.set("granularity", f.get("granularity"));
  return q;
}
function restoreFilters() {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of q) {
    const el = form.elements[k];
    if (!el) continue;
    if (el.type === "checkbox") el.checked = v !== "0"; else el.value = v;
  }
  form.classList.toggle("custom", form.elements.period.value === "custom");
}
function saveFilters() {
  const q = filterQuery(null);
  if (!form.elements.auto.checked) q.set("auto", "0");
  history.replaceState(null, "", location.pathname + "?" + q.toString());
}

// -- charts (SVG) --
const svgNS = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const e = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function seriesOf(report, rows) {
  const c = report.chart, out = new Map();
  for (const row of rows) {
    for (const y of c.y) {
      const name = c.series ? String(row[c.series]) + (c.y.length > 1 ? " " + y : "") : labelOf(report, y);
      if (!out.has(name)) out.set(name, new Map());
      const m = out.get(name), x = row[c.x];
      m.set(x, (m.get(x) || 0) + (Number(row[y]) || 0));
    }
  }
  return out;
}
function labelOf(report, name) { return (report.columns.find(c => c.name === name) || { label: name }).label; }
function kindOf(report, name) { return (report.columns.find(c => c.name === name) || { kind: "text" }).kind; }

function drawChart(report, rows, box) {
  box.textContent = "";
  if (!report.chart) return;
  const c = report.chart;
  if (c.only) rows = rows.filter(r => String(r[c.only[0]]) === c.only[1]);
  if (rows.length === 0) return;
  const series = seriesOf(report, rows);
  const xs = [...new Set(rows.map(r => r[c.x]))];
  if (c.type === "line") xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const W = 900, H = 240, L = 70, R = 10, T = 10, B = 40;
  let max = 0, min = 0;
  for (const m of series.values()) for (const v of m.values()) { max = Math.max(max, v); min = Math.min(min, v); }
  if (max === min) max = min + 1;
  const yk = kindOf(report, c.y[0]);
  const y = v => T + (H - T - B) * (1 - (v - min) / (max - min));
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
                          "aria-label": report.title });
  for (let i = 0; i <= 4; i++) {
    const v = min + (max - min) * i / 4, yy = y(v);
    svg.append(el("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#e6ebf0" }));
    svg.append(el("text", { x: L - 6, y: yy + 4, "text-anchor": "end" },
                  compact(yk, v)));
  }
  const names = [...series.keys()];
  const step = (W - L - R) / Math.max(xs.length, 1);
  const xlabel = v => (kindOf(report, c.x) === "time" ? when(v).replace(" UTC", "") : String(v));
  const every = Math.ceil(xs.length / 10);
  xs.forEach((x, i) => {
    if (i % every === 0) {
      const t = el("text", { x: L + step * (i + 0.5), y: H - B + 14, "text-anchor": "middle" },
                   xlabel(x).slice(0, 22));
      svg.append(t);
    }
  });
  if (c.type === "bar") {
    const bw = step * 0.8 / names.length;
    names.forEach((n, si) => {
      const m = series.get(n);
      xs.forEach((x, i) => {
        const v = m.get(x) || 0, y0 = y(Math.max(0, min)), y1 = y(v);
        const rect = el("rect", { x: L + step * i + step * 0.1 + bw * si, y: Math.min(y0, y1), width: Math.max(bw - 1, 1),
                                  height: Math.max(Math.abs(y0 - y1), 0.5), fill: COLORS[si % COLORS.length] });
        rect.append(el("title", {}, `${n} · ${xlabel(x)}: ${fmt(yk, v)}`));
        svg.append(rect);
      });
    });
  } else {
    names.forEach((n, si) => {
      const m = series.get(n);
      const pts = xs.map((x, i) => `${L + step * (i + 0.5)},${y(m.get(x) || 0)}`).join(" ");
      svg.append(el("polyline", { points: pts, fill: "none", stroke: COLORS[si % COLORS.length], "stroke-width": 2 }));
      xs.forEach((x, i) => svg.append(el("circle", { cx: L + step * (i + 0.5), cy: y(m.get(x) || 0), r: 2.5,
                                                      fill: COLORS[si % COLORS.length] })));
    });
  }
  box.append(svg);
  const legend = document.createElement("div");
  legend.className = "legend";
  names.forEach((n, si) => {
    const s = document.createElement("span");
    s.innerHTML = `<i style="background:${COLORS[si % COLORS.length]}"></i>`;
    s.append(n);
    legend.append(s);
  });
  box.append(legend);
}

// -- tables --
function drawTable(report, rows, box) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of report.columns) {
    const th = document.createElement("th");
    th.textContent = c.label;
    th.dataset.col = c.name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const c of report.columns) {
      const td = tr.insertCell();
      td.dataset.col = c.name;
      td.dataset.raw = row[c.name] === null ? "" : String(row[c.name]);
      td.textContent = fmt(c.kind, row[c.name]);
      if (NUMERIC.has(c.kind)) td.className = "num";
      if ((c.name === "status" && row[c.name] !== "ok") || c.name === "severity" && row[c.name] === "high") {
        td.classList.add("bad");
      }
    }
  }
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = report.columns.length;
    td.textContent = "No rows for these filters.";
  }
  box.textContent = "";
  box.append(table);
}

// -- cards --
function card(report) {
  const sec = document.createElement("section");
  sec.className = "card";
  sec.dataset.report = report.name;
  sec.innerHTML = `<div class="meta"><span class="elapsed"></span>` +
    report.exports.map(f => `<a class="export" data-format="${f}" href="#">${f.toUpperCase()}</a>`).join("") +
    `</div><h2></h2><p class="desc"></p><div class="chart"></div><div class="tablewrap"></div>`;
  sec.querySelector("h2").textContent = report.title;
  sec.querySelector(".desc").textContent = report.description;
  return sec;
}

async function loadReport(report, sec) {
  const q = filterQuery(report);
  for (const a of sec.querySelectorAll("a.export")) a.href = `/api/report/${report.name}.${a.dataset.format}?${q}`;
  sec.dataset.state = "loading";
  try {
    const res = await fetch(`/api/report/${report.name}?${q}`);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    drawChart(report, body.rows, sec.querySelector(".chart"));
    drawTable(report, body.rows, sec.querySelector(".tablewrap"));
    sec.querySelector(".elapsed").textContent = `${body.rows.length} rows · ${body.elapsed_ms} ms`;
    sec.dataset.rows = body.rows.length;
    sec.dataset.state = "ready";
  } catch (err) {
    sec.querySelector(".tablewrap").innerHTML = `<p class="error"></p>`;
    sec.querySelector(".error").textContent = "Could not load: " + err.message;
    sec.dataset.state = "error";
    throw err;
  }
}

async function loadLive() {
  const box = document.getElementById("live");
  if (group !== "operational") return;
  try {
    const live = await (await fetch("/api/live")).json();
    if (!live.available) { box.hidden = true; return; }
    box.hidden = false;
    box.textContent = "";
    for (const [label, value] of live.figures) {
      const d = document.createElement("div");
      d.innerHTML = "<b></b><span></span>";
      d.querySelector("b").textContent = value;
      d.querySelector("span").textContent = label;
      box.append(d);
    }
  } catch (err) { box.hidden = true; }
}

async function refresh() {
  saveFilters();
  statusEl.className = "";
  statusEl.textContent = "loading…";
  const reports = catalog.reports.filter(r => r.group === group);
  const results = await Promise.allSettled(
    reports.map(r => loadReport(r, document.querySelector(`[data-report="${r.name}"]`))).concat([loadLive()]));
  const failed = results.filter(r => r.status === "rejected").length;
  statusEl.className = failed ? "error" : "";
  statusEl.textContent = (failed ? `${failed} report(s) failed · ` : "") + "updated " +
    new Date().toISOString().slice(11, 19) + " UTC";
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function schedule() {
  clearInterval(timer);
  if (form.elements.auto.checked) timer = setInterval(refresh, REFRESH_MS);
}

async function main() {
  catalog = await (await fetch("/api/catalog")).json();
  const nav = document.getElementById("groups");
  for (const [key, title] of Object.entries(catalog.groups)) {
    const a = document.createElement("a");
    a.href = "/" + key;
    a.textContent = title;
    if (key === group) a.className = "active";
    a.addEventListener("click", ev => { ev.preventDefault(); location.href = "/" + key + location.search; });
    nav.append(a);
  }
  document.title = `dsom: ${catalog.groups[group] || group} reports`;
  for (const name of ["operator", "licence_kind", "game_type", "granularity"]) {
    for (const v of catalog.choices[name]) form.elements[name].append(new Option(v, v));
  }
  restoreFilters();
  const main = document.getElementById("reports");
  for (const r of catalog.reports.filter(r => r.group === group)) main.append(card(r));
  form.addEventListener("change", ev => {
    form.classList.toggle("custom", form.elements.period.value === "custom");
    if (ev.target.name === "auto") { saveFilters(); schedule(); return; }
    refresh();
  });
  document.getElementById("refresh").addEventListener("click", refresh);
  await refresh();
  schedule();
}

main().catch(err => { statusEl.className = "error"; statusEl.textContent = "Could not start: " + err.message; });
