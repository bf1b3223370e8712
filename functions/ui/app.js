// evaljobs web UI: a page per route, fed by the same HTTP API as the CLI (no build step).
"use strict";

const TOKEN_KEY = "evaljobs-token";
const Z95 = 1.959963984540054;
const view = document.getElementById("view");

// ---- DOM and formatting helpers (text goes in as text: samples hold arbitrary strings)

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const child of children.flat()) if (child) el.append(child instanceof Node ? child : document.createTextNode(child));
  return el;
}

const num = (x, d = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
// every id or name from the URL or the API is encoded before it goes into a path
const enc = encodeURIComponent;
const ci = (lo, hi, d = 3) => (lo === null || lo === undefined ? "–" : `[${num(lo, d)}, ${num(hi, d)}]`);
const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) : "–");
const short = (metric) => metric || "–";

// ---- API

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, { method = "GET", raw = false } = {}) {
  const response = await fetch(path, { method, headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { const body = await response.json(); message = body.detail?.message || body.detail || body.message || message; } catch (_) { /* not JSON */ }
    if (typeof message !== "string") message = JSON.stringify(message);
    throw new Error(response.status === 401 ? `${message} — paste a token above` : message);
  }
  return raw ? response.text() : response.json();
}

// replaceChildren/append would print a skipped (null) part as the text "null"
const present = (...nodes) => nodes.flat().filter((n) => n !== null && n !== undefined && n !== false);
function show(...nodes) { view.replaceChildren(...present(...nodes)); }

function showError(error) {
  show(h("p", { class: "error", role: "alert" }, String(error.message || error)));
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function copyButton(text) {
  return h("button", { type: "button", onclick: async (e) => {
    try { await navigator.clipboard.writeText(text); e.target.textContent = "Copied"; }
    catch (_) { e.target.textContent = "Select and copy"; }
  } }, "Copy");
}

// ---- Projects

async function projectsPage() {
  const [projects, jobs] = await Promise.all([api("/projects"), api("/jobs?limit=20")]);
  show(
    h("h1", {}, "Projects"),
    projects.length
      ? h("ul", {}, projects.map((p) => h("li", {}, h("a", { href: `#/leaderboard/${enc(p.entity)}/${enc(p.project)}` }, `${p.entity}/${p.project}`))))
      : h("p", { class: "muted" }, "No jobs yet. Run one: evaljobs run examples/quickstart.yaml"),
    h("h2", {}, "Recent jobs"),
    jobsTable(jobs),
  );
}

function statusBadge(status) {
  const cls = status === "succeeded" ? "badge ok" : status === "failed" ? "badge bad" : "badge";
  return h("span", { class: cls }, status);
}

function jobsTable(jobs) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["job", "model", "project", "status", "trigger", "created"].map((c) => h("th", {}, c)))),
    h("tbody", {}, jobs.map((j) => h("tr", {},
      h("td", {}, h("a", { href: `#/jobs/${enc(j.id)}` }, j.id)), h("td", {}, j.model), h("td", {}, `${j.entity}/${j.project}`),
      h("td", {}, statusBadge(j.status)), h("td", {}, j.trigger.kind), h("td", {}, when(j.created_at)))))));
}

// ---- Leaderboard: sort, filter, group, choose and pin columns, export, snippets

const COLUMNS = [
  { key: "benchmark", label: "benchmark" },
  { key: "model", label: "model" },
  { key: "job_id", label: "job", link: (r) => `#/jobs/${enc(r.job_id)}` },
  { key: "job_name", label: "name" },
  { key: "scoring", label: "scoring" },
  { key: "metric", label: "metric", fmt: short },
  { key: "value", label: "value", num: true, fmt: (v) => num(v) },
  { key: "stderr", label: "± stderr", num: true, fmt: (v) => num(v) },
  { key: "ci95_low", label: "95% CI", fmt: (_, r) => ci(r.ci95_low, r.ci95_high), bar: true },
  { key: "samples", label: "n", num: true },
  { key: "status", label: "status" },
  { key: "trigger", label: "trigger" },
  { key: "finished_at", label: "finished", fmt: when },
  { key: "input_tokens", label: "tokens in", num: true },
  { key: "output_tokens", label: "tokens out", num: true },
  { key: "wall_time_s", label: "wall s", num: true, fmt: (v) => num(v, 0) },
  { key: "model_server_s", label: "server s", num: true, fmt: (v) => num(v, 0) },
  { key: "cost_usd", label: "cost $", num: true, fmt: (v) => num(v, 4) },
];
const DEFAULT_SHOWN = ["benchmark", "model", "job_id", "metric", "value", "ci95_low", "samples", "finished_at", "cost_usd"];

function ciBar(row) {
  if (row.ci95_low === null || row.value === null) return null;
  const x = (v) => 4 + Math.max(0, Math.min(1, v)) * 112;
  return svg("svg", { width: 120, height: 12, class: "cibar", "aria-hidden": "true" },
    svg("line", { x1: 4, x2: 116, y1: 6, y2: 6, stroke: "#e4e7ec" }),
    svg("line", { x1: x(row.ci95_low), x2: x(row.ci95_high), y1: 6, y2: 6, stroke: "#2e6be6", "stroke-width": 3 }),
    svg("circle", { cx: x(row.value), cy: 6, r: 3, fill: "#1d2430" }));
}

function snippets(entity, project) {
  const url = `${location.origin}/leaderboards/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`;
  const python = [
    "import os, httpx",
    "",
    `rows = httpx.get("${url}",`,
    "                 headers={\"Authorization\": f\"Bearer {os.environ['EVALJOBS_TOKEN']}\"}).json()",
    "for row in rows:",
    "    print(row[\"benchmark\"], row[\"model\"], row[\"value\"], row[\"ci95_low\"], row[\"ci95_high\"])",
  ].join("\n");
  const curl = `curl -H "Authorization: Bearer $EVALJOBS_TOKEN" "${url}?format=csv"`;
  return h("details", { class: "snippets" }, h("summary", {}, "Fetch this data: Python and cURL"),
    h("p", {}, "Python ", copyButton(python)), h("pre", { "data-snippet": "python" }, python),
    h("p", {}, "cURL ", copyButton(curl)), h("pre", { "data-snippet": "curl" }, curl));
}

async function leaderboardPage(entity, project) {
  const base = `/leaderboards/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`;
  const rows = await api(base);
  const prefsKey = `evaljobs-columns:${entity}/${project}`;
  const saved = JSON.parse(localStorage.getItem(prefsKey) || "null");
  const state = {
    filter: "", group: "", sort: null, dir: 1,
    shown: new Set(saved?.shown || DEFAULT_SHOWN), pinned: new Set(saved?.pinned || ["benchmark"]),
    selected: new Set(),
  };
  const save = () => localStorage.setItem(prefsKey, JSON.stringify({ shown: [...state.shown], pinned: [...state.pinned] }));

  const tableHolder = h("div", { class: "table-wrap" });
  const compareButton = h("button", { type: "button", class: "primary", disabled: true, onclick: () => {
    const [a, b] = [...state.selected];
    location.hash = `#/compare?${new URLSearchParams({ a, b })}`;
  } }, "Compare 2 selected jobs");

  function visibleRows() {
    const needle = state.filter.toLowerCase();
    let out = rows.filter((r) => !needle || [r.benchmark, r.model, r.job_id, r.job_name, r.metric, r.status, r.trigger]
      .some((v) => v && String(v).toLowerCase().includes(needle)));
    if (state.sort) {
      const k = state.sort;
      out = [...out].sort((p, q) => {
        const a = p[k], b = q[k];
        if (a === b) return 0;
        if (a === null || a === undefined) return 1;
        if (b === null || b === undefined) return -1;
        return (a < b ? -1 : 1) * state.dir;
      });
    }
    if (state.group) out = [...out].sort((p, q) => String(p[state.group]).localeCompare(String(q[state.group])));
    return out;
  }

  function render() {
    const cols = COLUMNS.filter((c) => state.shown.has(c.key));
    cols.sort((a, b) => state.pinned.has(b.key) - state.pinned.has(a.key));
    const header = h("tr", {}, h("th", { class: "pinned" }, "⇄"), cols.map((c) => h("th", {
      class: "sortable" + (state.pinned.has(c.key) ? " pinned" : ""), "data-col": c.key,
      "aria-sort": state.sort === c.key ? (state.dir > 0 ? "ascending" : "descending") : null,
      onclick: () => { state.dir = state.sort === c.key ? -state.dir : c.num ? -1 : 1; state.sort = c.key; render(); },
    }, c.label)));
    const body = [];
    let group = null;
    const shownRows = visibleRows();
    for (const r of shownRows) {
      if (state.group && r[state.group] !== group) {
        group = r[state.group];
        const n = shownRows.filter((x) => x[state.group] === group).length;
        body.push(h("tr", { class: "group" }, h("td", { colspan: cols.length + 1 }, `${group} (${n})`)));
      }
      const check = h("input", { type: "checkbox", "aria-label": `select ${r.job_id}`, checked: state.selected.has(r.job_id),
        onchange: (e) => { e.target.checked ? state.selected.add(r.job_id) : state.selected.delete(r.job_id); render(); } });
      body.push(h("tr", { "data-job": r.job_id, "data-benchmark": r.benchmark },
        h("td", { class: "pinned" }, check),
        cols.map((c) => {
          const text = c.fmt ? c.fmt(r[c.key], r) : r[c.key] ?? "–";
          const content = c.link ? h("a", { href: c.link(r) }, text) : text;
          return h("td", { class: (c.num ? "num" : "") + (state.pinned.has(c.key) ? " pinned" : ""), "data-col": c.key },
            content, c.bar ? " " : null, c.bar ? ciBar(r) : null);
        })));
    }
    tableHolder.replaceChildren(h("table", {}, h("thead", {}, header), h("tbody", {}, body)));
    // pinned columns stick at their offsets
    requestAnimationFrame(() => {
      let left = 0;
      for (const th of tableHolder.querySelectorAll("thead th.pinned")) {
        const i = th.cellIndex;
        for (const cell of tableHolder.querySelectorAll(`tr > :nth-child(${i + 1})`)) if (cell.classList.contains("pinned")) cell.style.left = `${left}px`;
        left += th.offsetWidth;
      }
    });
    count.textContent = `${shownRows.length} of ${rows.length} rows`;
    compareButton.disabled = state.selected.size !== 2;
  }

  const count = h("span", { class: "muted" });
  const columnChooser = h("details", { class: "columns" }, h("summary", {}, "Columns"),
    COLUMNS.map((c) => h("span", {},
      h("label", {}, h("input", { type: "checkbox", name: `show-${c.key}`, checked: state.shown.has(c.key),
        onchange: (e) => { e.target.checked ? state.shown.add(c.key) : state.shown.delete(c.key); save(); render(); } }), c.label),
      h("label", { class: "muted" }, h("input", { type: "checkbox", name: `pin-${c.key}`, checked: state.pinned.has(c.key),
        onchange: (e) => { e.target.checked ? state.pinned.add(c.key) : state.pinned.delete(c.key); save(); render(); } }), "pin"))));

  show(
    h("h1", {}, `Leaderboard · ${entity}/${project}`),
    h("p", { class: "muted" }, "One row per benchmark per job. value ± stderr with its 95% interval (value ± 1.96 stderr); tick two jobs to compare them sample by sample."),
    h("div", { class: "toolbar" },
      h("input", { type: "search", name: "filter", placeholder: "Filter: model, benchmark, job…", "aria-label": "filter",
        oninput: (e) => { state.filter = e.target.value; render(); } }),
      h("label", {}, "Group by ", h("select", { name: "group", onchange: (e) => { state.group = e.target.value; render(); } },
        h("option", { value: "" }, "nothing"), h("option", { value: "model" }, "model"), h("option", { value: "benchmark" }, "benchmark"))),
      h("button", { type: "button", onclick: async () => download(`${project}.jsonl`, await api(`${base}?format=jsonl`, { raw: true }), "application/x-ndjson") }, "Export JSONL"),
      h("button", { type: "button", onclick: async () => download(`${project}.csv`, await api(`${base}?format=csv`, { raw: true }), "text/csv") }, "Export CSV"),
      h("button", { type: "button", onclick: async () => {
        const created = await api(`/projects/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/rerun-last`, { method: "POST" });
        location.hash = `#/jobs/${enc(created.id)}`;
      } }, "Re-run last job"),
      compareButton, count),
    columnChooser, tableHolder, snippets(entity, project));
  render();
}

// ---- Job page: config, status, trigger, accounting, metrics with CIs, logs, samples

function metricsTable(job) {
  const rows = [];
  for (const r of job.results) {
    for (const m of r.metrics) {
      const lo = m.stderr === null ? null : m.value - Z95 * m.stderr;
      const hi = m.stderr === null ? null : m.value + Z95 * m.stderr;
      rows.push(h("tr", { "data-benchmark": r.benchmark },
        h("td", {}, r.benchmark), h("td", {}, m.name + (m.name === r.primary_metric ? " ★" : "")),
        h("td", { class: "num" }, num(m.value)), h("td", { class: "num" }, num(m.stderr)), h("td", {}, ci(lo, hi)),
        h("td", { class: "num" }, `${r.samples_completed}/${r.samples_total}`), h("td", { class: "num" }, `${r.input_tokens}/${r.output_tokens}`),
        h("td", { class: "num" }, num(r.wall_time_s, 0)), h("td", { class: "num" }, num(r.model_server_s, 0)), h("td", { class: "num" }, num(r.cost_usd, 4))));
    }
  }
  return h("div", { class: "table-wrap" }, h("table", { id: "metrics" },
    h("thead", {}, h("tr", {}, ["benchmark", "metric", "value", "± stderr", "95% CI", "samples", "tokens in/out", "wall s", "server s", "cost $"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows)));
}

function card(k, v) { return h("div", { class: "card" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v)); }

async function samplesViewer(job) {
  const holder = h("div", { id: "samples" });
  if (!job.results.length) return holder;
  const state = { benchmark: job.results[0].benchmark, offset: 0, limit: 10 };
  const select = h("select", { name: "benchmark", "aria-label": "benchmark", onchange: (e) => { state.benchmark = e.target.value; state.offset = 0; load(); } },
    job.results.map((r) => h("option", { value: r.benchmark }, r.benchmark)));
  const pager = h("span", { class: "muted" });
  const prev = h("button", { type: "button", onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, "‹ Previous");
  const next = h("button", { type: "button", onclick: () => { state.offset += state.limit; load(); } }, "Next ›");
  const list = h("div", {});
  async function load() {
    try {
      const page = await api(`/jobs/${enc(job.id)}/samples?benchmark=${encodeURIComponent(state.benchmark)}&offset=${state.offset}&limit=${state.limit}`);
      pager.textContent = `${page.total ? page.offset + 1 : 0}–${page.offset + page.samples.length} of ${page.total}`;
      prev.disabled = page.offset === 0;
      next.disabled = page.offset + page.samples.length >= page.total;
      list.replaceChildren(...page.samples.map((s) => h("div", { class: "sample", "data-sample": s.id },
        h("div", {}, h("strong", {}, `#${s.id}`), s.epoch > 1 ? ` epoch ${s.epoch} ` : " ",
          h("span", { "data-field": "value", class: s.value === null ? "badge" : s.value >= 1 ? "badge ok" : s.value <= 0 ? "badge bad" : "badge" },
            `${short(page.metric)} ${s.value === null ? "–" : num(s.value, 2)}`)),
        h("div", { class: "grid" },
          h("span", { class: "muted" }, "input"), h("pre", { class: "light" }, s.input),
          s.choices ? h("span", { class: "muted" }, "choices") : null, s.choices ? h("pre", { class: "light" }, s.choices.map((c, i) => `${String.fromCharCode(65 + i)}. ${c}`).join("\n")) : null,
          h("span", { class: "muted" }, "output"), h("pre", { class: "light", "data-field": "output" }, s.output || "(empty)"),
          s.answer ? h("span", { class: "muted" }, "answer") : null, s.answer ? h("pre", { class: "light", "data-field": "answer" }, s.answer) : null,
          h("span", { class: "muted" }, "target"), h("pre", { class: "light", "data-field": "target" }, s.target),
          s.explanation ? h("span", { class: "muted" }, "scorer") : null, s.explanation ? h("pre", { class: "light" }, s.explanation) : null,
          s.error ? h("span", { class: "muted" }, "error") : null, s.error ? h("pre", { class: "light" }, s.error) : null))));
    } catch (error) {
      list.replaceChildren(h("p", { class: "error" }, error.message));
    }
  }
  holder.append(h("div", { class: "toolbar" }, select, prev, next, pager), list);
  await load();
  return holder;
}

async function jobPage(id) {
  const job = await api(`/jobs/${enc(id)}`);
  const [config, log] = await Promise.all([
    api(`/jobs/${enc(id)}/config.yaml`, { raw: true }),
    api(`/jobs/${enc(id)}/log`, { raw: true }).catch((e) => `(${e.message})`),
  ]);
  const acc = job.accounting;
  const trigger = job.trigger.detail?.rerun_of ? `${job.trigger.kind} (re-run of ${job.trigger.detail.rerun_of})` : job.trigger.kind;
  const comparison = job.runtime?.comparison;
  show(
    h("h1", {}, `${job.name || job.id} `, statusBadge(job.status)),
    h("p", {}, h("a", { href: `#/leaderboard/${enc(job.entity)}/${enc(job.project)}` }, `${job.entity}/${job.project}`), " · ", job.model, " · ",
      h("a", { href: `#/compare?${new URLSearchParams({ b: job.id })}` }, "compare with the project baseline")),
    job.error ? h("p", { class: "error" }, job.error) : null,
    h("div", { class: "cards" },
      card("status", job.status), card("trigger", trigger), card("created", when(job.created_at)), card("finished", when(job.finished_at)),
      card("tokens in/out", acc ? `${acc.input_tokens}/${acc.output_tokens}` : "–"),
      card("wall time", acc ? `${num(acc.wall_time_s, 0)} s` : "–"), card("model server", acc?.model_server_s ? `${num(acc.model_server_s, 0)} s` : "–"),
      card("estimated cost", acc ? (acc.cost_usd === null ? "unknown" : `$${num(acc.cost_usd, 4)}`) : "–")),
    acc ? h("p", { class: "muted" }, `Cost basis: ${acc.rates.basis}. Server time is shared among benchmarks by tokens.`) : null,
    comparison?.baseline ? h("p", {}, `Against baseline ${comparison.baseline}: `, comparison.regressed ? h("strong", { class: "verdict-regression" }, "regressed") : "no regression",
      " (", h("a", { href: `#/compare?${new URLSearchParams({ a: comparison.baseline, b: job.id })}` }, "details"), ")") : null,
    h("h2", {}, "Metrics"), metricsTable(job),
    h("h2", {}, "Samples"), await samplesViewer(job),
    h("h2", {}, "Config (W&B-compatible config.yaml)"), h("pre", { id: "config" }, config),
    h("h2", {}, "Log"), h("pre", { id: "log" }, log));
}

// ---- Compare page: two jobs side by side, bars with CIs, paired differences

function primaryOf(result) {
  return result.metrics.find((m) => m.name === result.primary_metric) || result.metrics[0];
}

function comparePlot(jobA, jobB, benchmarks) {
  const width = Math.max(360, benchmarks.length * 140 + 60), height = 240, top = 20, bottom = 40, left = 40;
  const y = (v) => top + (1 - Math.max(0, Math.min(1, v))) * (height - top - bottom);
  const parts = [];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(svg("line", { x1: left, x2: width - 10, y1: y(t), y2: y(t), stroke: "#e4e7ec" }), svg("text", { x: 4, y: y(t) + 4 }, t.toFixed(2)));
  }
  benchmarks.forEach((name, i) => {
    const x0 = left + 20 + i * 140;
    [[jobA, "#98a2b3", 0], [jobB, "#2e6be6", 1]].forEach(([job, color, k]) => {
      const result = job.results.find((r) => r.benchmark === name);
      const m = result && primaryOf(result);
      if (!m) return;
      const x = x0 + k * 50;
      parts.push(svg("rect", { x, y: y(m.value), width: 40, height: y(0) - y(m.value), fill: color, "data-job": job.id, "data-benchmark": name }));
      if (m.stderr !== null) {
        const lo = y(m.value - Z95 * m.stderr), hi = y(m.value + Z95 * m.stderr);
        parts.push(svg("line", { x1: x + 20, x2: x + 20, y1: lo, y2: hi, stroke: "#1d2430", "stroke-width": 1.5 }),
          svg("line", { x1: x + 14, x2: x + 26, y1: lo, y2: lo, stroke: "#1d2430" }), svg("line", { x1: x + 14, x2: x + 26, y1: hi, y2: hi, stroke: "#1d2430" }));
      }
    });
    parts.push(svg("text", { x: x0, y: height - bottom + 16 }, name));
  });
  parts.push(svg("rect", { x: left, y: height - 14, width: 10, height: 10, fill: "#98a2b3" }), svg("text", { x: left + 14, y: height - 5 }, `A ${jobA.id}`),
    svg("rect", { x: left + 180, y: height - 14, width: 10, height: 10, fill: "#2e6be6" }), svg("text", { x: left + 194, y: height - 5 }, `B ${jobB.id}`));
  return svg("svg", { id: "compare-plot", width, height, role: "img", "aria-label": "primary metric per benchmark with 95% intervals" }, parts);
}

async function comparePage(params) {
  const a = params.get("a") || "", b = params.get("b") || "", threshold = params.get("threshold") || "0.01";
  const form = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const q = new URLSearchParams([...f.entries()].filter(([, v]) => v));
    location.hash = `#/compare?${q}`;
  } },
    h("label", {}, "A (baseline) ", h("input", { name: "a", value: a, placeholder: "job id, or empty: project baseline" })),
    h("label", {}, "B ", h("input", { name: "b", value: b, placeholder: "job id", required: true })),
    h("label", {}, "threshold ", h("input", { name: "threshold", value: threshold, size: 5 })),
    h("button", { type: "submit", class: "primary" }, "Compare"));
  show(h("h1", {}, "Compare two jobs"), form);
  if (!b) return;
  const q = new URLSearchParams({ b, threshold });
  if (a) q.set("a", a);
  const comparison = await api(`/compare?${q}`);
  const [jobA, jobB] = await Promise.all([api(`/jobs/${enc(comparison.a)}`), api(`/jobs/${enc(comparison.b)}`)]);
  const names = comparison.benchmarks.map((r) => r.benchmark);
  view.append(...present(
    h("p", {}, "A ", h("a", { href: `#/jobs/${enc(jobA.id)}` }, jobA.id), ` (${jobA.model}) · B `, h("a", { href: `#/jobs/${enc(jobB.id)}` }, jobB.id), ` (${jobB.model})`),
    h("div", { class: "table-wrap" }, comparePlot(jobA, jobB, names)),
    h("p", { class: "muted" }, "Bars: each job's primary metric; whiskers: its 95% interval. The table pairs the samples both jobs scored: B − A with its own 95% interval, far tighter than the two bars suggest because question difficulty cancels out. The verdict needs the whole interval beyond the threshold."),
    h("div", { class: "table-wrap" }, h("table", { id: "comparison" },
      h("thead", {}, h("tr", {}, ["benchmark", "metric", "shared samples", "A", "B", "B − A", "95% CI", "verdict"].map((c) => h("th", {}, c)))),
      h("tbody", {}, comparison.benchmarks.map((r) => h("tr", { "data-benchmark": r.benchmark },
        h("td", {}, r.benchmark), h("td", {}, short(r.metric)), h("td", { class: "num" }, r.shared),
        h("td", { class: "num" }, num(r.a)), h("td", { class: "num" }, num(r.b)), h("td", { class: "num" }, num(r.diff)),
        h("td", {}, ci(r.ci95_low, r.ci95_high, 4)),
        h("td", { class: `verdict-${r.verdict.replace(/ .*/, "")}`, "data-verdict": r.verdict }, r.verdict))))))));
}

// ---- Router and token

async function route() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  show(h("p", { class: "muted" }, "Loading…"));
  try {
    if (!token()) throw new Error("Paste an API token above (create one with `evaljobs token create --entity '*'`).");
    if (parts[0] === "leaderboard" && parts.length === 3) await leaderboardPage(parts[1], parts[2]);
    else if (parts[0] === "jobs" && parts.length === 2) await jobPage(parts[1]);
    else if (parts[0] === "compare") await comparePage(new URLSearchParams(query || ""));
    else await projectsPage();
  } catch (error) {
    showError(error);
  }
}

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("token");
  if (input.value) localStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  document.getElementById("token-state").textContent = token() ? "token set" : "";
  route();
});
document.getElementById("token-state").textContent = token() ? "token set" : "";
window.addEventListener("hashchange", route);
route();
