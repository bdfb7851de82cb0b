// The dashboard page: reads the catalog, renders the current group's reports (chart + table),
// keeps filters in the URL, refreshes while the stream runs. No build step, no dependencies.
// Strings a person reads go through _() (extracted by `make i18n`, translated in the page's
// #messages); numbers and times are formatted by the browser's Intl (CLDR, like Babel on the
// server) in the page's language, times in Kyiv time.
"use strict";

const REFRESH_MS = 5000;
const COLORS = ["#0057b7", "#8a6100", "#2e8540", "#b3261e", "#6b4fbb", "#00838f", "#8d6e63", "#5c6bc0"];
const TZ = "Europe/Kyiv";
const LOCALE = document.body.dataset.browserLocale || "uk-UA";
const MESSAGES = JSON.parse(document.getElementById("messages").textContent);
const group = location.pathname.replace(/^\/+|\/+$/g, "") || "operational";
const form = document.getElementById("filters");
const statusEl = document.getElementById("status");
let catalog = null;
let timer = null;

// -- translation: _("Text with %(name)s", {name: value}) --
function _(message, params) {
  const text = MESSAGES[message] || message;
  return params ? text.replace(/%\((\w+)\)s/g, (m, k) => (k in params ? String(params[k]) : m)) : text;
}
function valueLabel(column, value) {
  const labels = (catalog && catalog.value_labels[column]) || {};
  return value === null || value === undefined ? "" : labels[value] || String(value);
}

// A report's English detail text (written by its SQL) in the reader's language, by the catalog's patterns.
let detailPatterns = null;
function detailText(text) {
  if (detailPatterns === null) {
    detailPatterns = (catalog.details || []).map(d => [new RegExp(d.pattern), d.text, d.kinds]);
  }
  for (const [re, template, kinds] of detailPatterns) {
    const m = re.exec(text);
    if (!m) continue;
    const params = {};
    for (const [k, v] of Object.entries(m.groups || {})) {
      const kind = kinds[k];
      params[k] = kind === "time" ? when(v.replace(" ", "T") + "Z") : kind === "number" ? ratioFmt.format(Number(v))
        : kind === "percent" ? percentFmt.format(Number(v)) + "\u00a0%" : v;
    }
    return template.replace(/%\((\w+)\)s/g, (x, k) => (k in params ? params[k] : x));
  }
  return text;
}

// -- formatting: money arrives as integer kopecks, never as float --
const numberFmt = new Intl.NumberFormat(LOCALE);
const ratioFmt = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const percentFmt = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compactFmt = new Intl.NumberFormat(LOCALE, { notation: "compact", maximumFractionDigits: 1 });
const DECIMAL = new Intl.NumberFormat(LOCALE).formatToParts(1.5).find(p => p.type === "decimal").value;
const unitFmt = (unit, digits) => new Intl.NumberFormat(LOCALE, {
  style: "unit", unit, unitDisplay: "short", minimumFractionDigits: digits, maximumFractionDigits: digits });
const HOURS = unitFmt("hour", 1), SECONDS = unitFmt("second", 2), MILLIS = unitFmt("millisecond", 1);
const timeFmt = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" });
const axisFmt = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const clockFmt = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "shortOffset" });

function money(k) {
  if (k === null || k === undefined) return "";
  const neg = k < 0, a = Math.abs(k);
  const whole = numberFmt.format(BigInt(Math.floor(a / 100)));
  return (neg ? "−" : "") + whole + DECIMAL + String(a % 100).padStart(2, "0");
}
function duration(us) {
  if (us === null || us === undefined) return "";
  const a = Math.abs(us);
  if (a >= 3600e6) return HOURS.format(us / 3600e6);
  if (a >= 1e6) return SECONDS.format(us / 1e6);
  return MILLIS.format(us / 1e3);
}
function toDate(v) { return typeof v === "number" ? new Date(v / 1000) : new Date(v); }
// Kyiv time with its offset, written as UTC+2 / UTC+3 (Intl writes GMT).
function when(v) { return v === null || v === undefined || v === "" ? "" : timeFmt.format(toDate(v)).replace("GMT", "UTC"); }
// Axis ticks: short (12,3 тис., 4,5 млн), money in hryvnias.
function compact(kind, v) {
  if (kind === "duration_us") return duration(v);
  return compactFmt.format(kind === "money" ? v / 100 : v);
}
function fmt(kind, v, column) {
  if (v === null || v === undefined) return "";
  switch (kind) {
    case "money": return money(v);
    case "count": return numberFmt.format(v);
    case "percent": return percentFmt.format(v) + "\u00a0%";
    case "ratio": return ratioFmt.format(v);
    case "duration_us": return duration(v);
    case "time": return when(v);
    default: return column === "detail" ? detailText(String(v)) : valueLabel(column, v);
  }
}
const NUMERIC = new Set(["money", "count", "percent", "ratio", "duration_us"]);

// -- query string <-> filters --
function filterQuery(report) {
  const q = new URLSearchParams();
  const f = new FormData(form);
  const period = f.get("period");
  if (period === "custom") {
    // no offset: the server reads these as Kyiv time
    if (f.get("since")) q.set("since", f.get("since"));
    if (f.get("until")) q.set("until", f.get("until"));
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
const LINE_CHART = _("Line chart"), BAR_CHART = _("Bar chart");
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
      const name = c.series ? valueLabel(c.series, row[c.series]) + (c.y.length > 1 ? " " + labelOf(report, y) : "")
        : labelOf(report, y);
      if (!out.has(name)) out.set(name, new Map());
      const m = out.get(name), x = row[c.x];
      m.set(x, (m.get(x) || 0) + (Number(row[y]) || 0));
    }
  }
  return out;
}
function labelOf(report, name) { return (report.columns.find(c => c.name === name) || { label: name }).label; }
function kindOf(report, name) { return (report.columns.find(c => c.name === name) || { kind: "text" }).kind; }

// How many x labels fit: each label's width in characters at the axis font (11 px, ~6.6 px a
// character) plus a gap, over the plot's width in pixels.
const CHAR_PX = 6.6, LABEL_GAP_PX = 12;
function labelStep(labels, plotWidth) {
  const widest = Math.max(1, ...labels.map(t => t.length)) * CHAR_PX + LABEL_GAP_PX;
  const fits = Math.max(1, Math.floor(plotWidth / widest));
  return Math.ceil(labels.length / fits);
}

function drawChart(report, rows, box) {
  box.textContent = "";
  if (!report.chart) return;
  const c = report.chart;
  if (c.only) rows = rows.filter(r => String(r[c.only[0]]) === c.only[1]);
  if (rows.length === 0) return;
  const series = seriesOf(report, rows);
  const xs = [...new Set(rows.map(r => r[c.x]))];
  if (c.type === "line") xs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Drawn at the box's own width, so text is never stretched and the labels' room is real.
  const W = Math.max(320, Math.round(box.clientWidth || 900)), H = 240, L = 70, R = 10, T = 10, B = 40;
  let max = 0, min = 0;
  for (const m of series.values()) for (const v of m.values()) { max = Math.max(max, v); min = Math.min(min, v); }
  if (max === min) max = min + 1;
  const yk = kindOf(report, c.y[0]);
  const y = v => T + (H - T - B) * (1 - (v - min) / (max - min));
  const titleId = `${report.name}-chart-title`, descId = `${report.name}-chart-desc`;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
                          "aria-labelledby": titleId, "aria-describedby": descId });
  const names = [...series.keys()];
  // reason codes stay codes on an axis (their descriptions are in the table)
  const xlabel = v => (kindOf(report, c.x) === "time" ? axisFmt.format(toDate(v))
    : c.x === "issue" ? String(v) : valueLabel(c.x, v));
  // The text alternative: what is plotted, the largest value, and where the figures are.
  let top = null;
  for (const [n, m] of series) for (const [x, v] of m) if (top === null || v > top[2]) top = [n, x, v];
  svg.append(el("title", { id: titleId }, _("Chart: %(title)s", { title: report.title })));
  svg.append(el("desc", { id: descId }, _(
    "%(kind)s of %(what)s by %(by)s, %(series)s series, %(points)s points. Largest: %(value)s (%(name)s, %(at)s). The figures are in the table below.",
    { kind: c.type === "line" ? LINE_CHART : BAR_CHART, what: c.y.map(n => labelOf(report, n)).join(", "),
      by: labelOf(report, c.x), series: names.length, points: xs.length, value: fmt(yk, top[2]), name: top[0],
      at: xlabel(top[1]) })));
  for (let i = 0; i <= 4; i++) {
    const v = min + (max - min) * i / 4, yy = y(v);
    svg.append(el("line", { x1: L, x2: W - R, y1: yy, y2: yy, stroke: "#e6ebf0" }));
    svg.append(el("text", { x: L - 6, y: yy + 4, "text-anchor": "end" }, compact(yk, v)));
  }
  const step = (W - L - R) / Math.max(xs.length, 1);
  const full = xs.map(x => xlabel(x));
  const texts = full.map(t => (t.length > 22 ? t.slice(0, 21) + "…" : t));
  const every = labelStep(texts, W - L - R);
  texts.forEach((t, i) => {
    if (i % every === 0) {
      const label = el("text", { class: "xlabel", x: L + step * (i + 0.5), y: H - B + 14, "text-anchor": "middle" }, t);
      if (t !== full[i]) label.append(el("title", {}, full[i]));
      svg.append(label);
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
  const legend = document.createElement("ul");
  legend.className = "legend";
  legend.setAttribute("aria-label", _("Legend"));
  names.forEach((n, si) => {
    const s = document.createElement("li");
    s.innerHTML = `<i aria-hidden="true" style="background:${COLORS[si % COLORS.length]}"></i>`;
    s.append(n);
    legend.append(s);
  });
  box.append(legend);
}

// -- tables --
function drawTable(report, rows, box) {
  const table = document.createElement("table");
  table.id = `${report.name}-table`;
  const caption = table.createCaption();
  caption.className = "visually-hidden";
  caption.textContent = report.title;
  const head = table.createTHead().insertRow();
  for (const c of report.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = c.label;
    th.dataset.col = c.name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const c of report.columns) {
      const td = tr.insertCell();
      const v = row[c.name];
      td.dataset.col = c.name;
      td.dataset.raw = v === null ? "" : String(v);
      if (c.name === "issue" && catalog.value_labels.issue[v]) {
        // a reason code stays a stable machine string; its description is beside it
        const code = document.createElement("code");
        code.textContent = v;
        const d = document.createElement("span");
        d.className = "reason";
        d.textContent = catalog.value_labels.issue[v];
        td.append(code, d);
        td.classList.add("wrap");
      } else td.textContent = fmt(c.kind, v, c.name);
      if (NUMERIC.has(c.kind)) td.classList.add("num");
      if ((c.name === "status" && v !== "ok") || c.name === "severity" && v === "high") td.classList.add("bad");
    }
  }
  if (rows.length === 0) {
    const td = body.insertRow().insertCell();
    td.colSpan = report.columns.length;
    td.textContent = _("No rows for these filters.");
  }
  box.textContent = "";
  box.append(table);
  requestAnimationFrame(() => announceHidden(box));  // once laid out
}

// A table wider than its box: say which columns are out of view and how to reach them.
function announceHidden(wrap) {
  const note = wrap.parentElement.querySelector(".hidden-columns");
  const ths = [...wrap.querySelectorAll("thead th")];
  const box = wrap.getBoundingClientRect();
  const hidden = ths.filter(th => {
    const r = th.getBoundingClientRect();
    return r.right > box.left + wrap.clientWidth + 1 || r.left < box.left - 1;
  });
  if (hidden.length === 0) { note.hidden = true; note.textContent = ""; return; }
  note.hidden = false;
  note.textContent = _(
    "%(hidden)s of %(total)s columns are out of view (%(names)s): scroll the table sideways, or focus it and use the arrow keys.",
    { hidden: hidden.length, total: ths.length, names: hidden.map(th => th.textContent).join(", ") });
}

// -- cards --
function card(report) {
  const sec = document.createElement("section");
  sec.className = "card";
  sec.dataset.report = report.name;
  sec.setAttribute("aria-labelledby", `${report.name}-title`);
  sec.innerHTML = `<div class="meta"><span class="elapsed"></span>` +
    report.exports.map(f => `<a class="export" data-format="${f}" href="#"></a>`).join("") +
    `</div><h2></h2><p class="desc"></p><div class="chart"></div><p class="hidden-columns" hidden></p>` +
    `<div class="tablewrap" role="region" tabindex="0"></div>`;
  const h2 = sec.querySelector("h2");
  h2.id = `${report.name}-title`;
  h2.textContent = report.title;
  sec.querySelector(".desc").textContent = report.description;
  for (const a of sec.querySelectorAll("a.export")) {
    a.textContent = a.dataset.format.toUpperCase();
    a.setAttribute("aria-label", _("Export %(title)s as %(format)s", { title: report.title, format: a.textContent }));
  }
  const wrap = sec.querySelector(".tablewrap");
  wrap.setAttribute("aria-label", _("Table: %(title)s", { title: report.title }));
  wrap.addEventListener("scroll", () => announceHidden(wrap), { passive: true });
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
    sec.querySelector(".elapsed").textContent = _("%(rows)s rows · %(ms)s ms",
      { rows: numberFmt.format(body.rows.length), ms: ratioFmt.format(body.elapsed_ms) });
    sec.dataset.rows = body.rows.length;
    sec.dataset.state = "ready";
  } catch (err) {
    sec.querySelector(".tablewrap").innerHTML = `<p class="error" role="alert"></p>`;
    sec.querySelector(".error").textContent = _("Could not load: %(why)s", { why: err.message });
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
  statusEl.textContent = _("loading…");
  const reports = catalog.reports.filter(r => r.group === group);
  const results = await Promise.allSettled(
    reports.map(r => loadReport(r, document.querySelector(`[data-report="${r.name}"]`))).concat([loadLive()]));
  const failed = results.filter(r => r.status === "rejected").length;
  statusEl.className = failed ? "error" : "";
  const updated = _("updated %(time)s", { time: clockFmt.format(new Date()).replace("GMT", "UTC") });
  statusEl.textContent = failed ? _("Reports not loaded: %(failed)s", { failed }) + " · " + updated : updated;
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
    if (key === group) { a.className = "active"; a.setAttribute("aria-current", "page"); }
    a.addEventListener("click", ev => { ev.preventDefault(); location.href = "/" + key + location.search; });
    nav.append(a);
  }
  for (const name of ["operator", "licence_kind", "game_type", "granularity"]) {
    for (const v of catalog.choices[name]) form.elements[name].append(new Option(valueLabel(name, v), v));
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
  window.addEventListener("resize", () => {
    for (const w of document.querySelectorAll(".tablewrap")) if (w.querySelector("table")) announceHidden(w);
  });
  await refresh();
  schedule();
}

main().catch(err => { statusEl.className = "error"; statusEl.textContent = _("Could not start: %(why)s", { why: err.message }); });
