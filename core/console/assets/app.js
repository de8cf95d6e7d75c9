// claude-gateway console. Plain DOM, no framework; every string from the
// server goes in through textContent or an attribute, never innerHTML, so
// key aliases, model names and metadata render as text.
(function () {
  "use strict";

  // Okabe-Ito colours, and a dash per series so lines differ without colour.
  const C = { blue: "#0072B2", orange: "#E69F00", green: "#009E73", verm: "#D55E00", purple: "#CC79A7", sky: "#56B4E9" };
  const API = "api/";
  let sess = null; // {role, csrf_token, key?}
  let timers = [];
  let charts = [];
  let streams = [];
  let wanted = ""; // the route a signed-out visitor asked for

  // el builds an element: attrs are properties (class, text, on*) or
  // attributes; children are nodes or strings (as text).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "value") e.value = v;
      else if (k === "checked") e.checked = !!v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const $ = (id) => document.getElementById(id);

  class HTTPError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  async function api(method, path, body) {
    const h = { "Accept": "application/json" };
    if (method !== "GET") {
      h["Content-Type"] = "application/json";
      if (sess) h["X-CSRF-Token"] = sess.csrf_token;
    }
    const res = await fetch(API + path, { method, headers: h, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (res.status === 401 && path !== "login") { showSignin("Your session ended; sign in again."); throw new HTTPError(401, "signed out"); }
    if (!res.ok) {
      const m = data && data.error ? (data.error.message || data.error) : res.statusText;
      throw new HTTPError(res.status, typeof m === "string" ? m : JSON.stringify(m));
    }
    return data;
  }

  function toast(msg) {
    const t = $("toast");
    t.textContent = msg;
    t.classList.add("show");
    setTimeout(() => t.classList.remove("show"), 2500);
  }

  const usd = (v) => v === null || v === undefined ? "–" : "$" + Number(v).toFixed(v >= 100 ? 2 : 4);
  const num = (v) => v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US");
  const ms = (v) => v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US") + " ms";
  const when = (s) => s ? new Date(s).toLocaleString() : "–";
  const isoDay = (d) => d.toISOString().slice(0, 10);

  // meter is a budget or limit bar with its figures as text beside it.
  function meter(used, limit, fmt, label) {
    fmt = fmt || num;
    if (!limit) return el("span", { class: "t", text: fmt(used || 0) + " (no limit)" });
    const pct = Math.min(100, 100 * (used || 0) / limit);
    const fill = el("div", { class: "fill" + (pct >= 100 ? " full" : pct >= 80 ? " warn" : "") });
    fill.style.width = pct.toFixed(1) + "%";
    return el("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": used || 0, "aria-label": label || "use" },
      el("div", { class: "bar" }, fill), el("span", { class: "t", text: fmt(used || 0) + " / " + fmt(limit) }));
  }

  // chart draws a uPlot line (or bar) chart; xs are Unix seconds.
  function chart(title, xs, defs, opts) {
    opts = opts || {};
    const box = el("div", { class: "chart", role: "img", "aria-label": title + ": " + defs.map((d) => d.label + " total " + (d.summary || "")).join(", ") });
    const card = el("section", { class: "card" }, el("h2", { text: title }), box);
    const mk = () => {
      const w = Math.max(260, box.clientWidth || card.clientWidth - 32 || 600);
      const u = new uPlot({
        width: w, height: 220,
        series: [{}].concat(defs.map((d) => ({
          label: d.label, stroke: d.color, width: 2, dash: d.dash, spanGaps: false,
          fill: opts.bars ? d.color + "cc" : undefined,
          paths: opts.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined,
          value: (u, v) => v === null ? "–" : (d.fmt || num)(v),
        }))),
        axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (defs[0].axis || num)(v)) }],
        scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
        cursor: { focus: { prox: 16 } },
      }, [xs].concat(defs.map((d) => d.values)), box);
      charts.push(u);
    };
    requestAnimationFrame(mk);
    return card;
  }

  function stat(id, label, value) {
    return el("div", { class: "stat", id: "stat-" + id }, el("div", { class: "v", text: value }), el("div", { class: "l", text: label }));
  }

  // sortableTable renders rows with clickable (keyboard: Enter/Space) headers.
  function sortableTable(cols, rows, caption) {
    let key = cols[cols.length - 1].key, dir = -1;
    const tbody = el("tbody");
    const ths = cols.map((c) => el("th", { scope: "col", class: c.num ? "num" : "" },
      el("button", { type: "button", class: "sort", text: c.label, onclick: () => { dir = key === c.key ? -dir : (c.num ? -1 : 1); key = c.key; draw(); } })));
    function draw() {
      const col = cols.find((c) => c.key === key);
      const sorted = rows.slice().sort((a, b) => {
        const x = a[key], y = b[key];
        return (col.num ? (x || 0) - (y || 0) : String(x || "").localeCompare(String(y || ""))) * dir;
      });
      ths.forEach((th, i) => th.setAttribute("aria-sort", cols[i].key === key ? (dir > 0 ? "ascending" : "descending") : "none"));
      tbody.replaceChildren(...sorted.map((r) => el("tr", {}, cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : String(r[c.key] === undefined ? "" : r[c.key]))))));
      if (!sorted.length) tbody.append(el("tr", {}, el("td", { colspan: cols.length, class: "empty", text: "No data in this range." })));
    }
    draw();
    return el("div", { class: "table-wrap" }, el("table", {}, el("caption", { class: "hint", text: caption || "" }), el("thead", {}, el("tr", {}, ths)), tbody));
  }

  // ---- pages ----

  async function pageOverview(root) {
    const sel = el("select", { id: "range", onchange: () => draw() },
      el("option", { value: "hour", text: "Last hour" }), el("option", { value: "day", text: "Last day", selected: true }), el("option", { value: "month", text: "Last 30 days" }));
    const body = el("div");
    root.append(el("h1", { text: "Overview" }), el("div", { class: "toolbar" }, el("label", {}, "Range", sel)), body);
    if (sess.role === "key" && sess.key) {
      const k = sess.key;
      root.insertBefore(el("section", { class: "card" }, el("h2", { text: "Your key " + (k.key_alias || k.key_name) }),
        meter(k.spend, k.max_budget, usd, "budget")), body);
    }
    if (sess.role === "user") {
      const mine = await api("GET", "my-keys");
      root.insertBefore(el("section", { class: "card", id: "my-keys" }, el("h2", { text: "Your keys" }),
        mine.keys.length ? el("div", { class: "table-wrap" }, el("table", {},
          el("thead", {}, el("tr", {}, ["Alias", "Key", "Team", "Models", "Budget", "Status"].map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, mine.keys.map((k) => el("tr", {},
            el("td", { class: "alias", text: k.key_alias || "" }), el("td", { text: k.key_name }), el("td", { text: k.team_id || "" }),
            el("td", { text: (k.models || []).join(", ") || "all" }),
            el("td", {}, meter(k.spend, k.max_budget, usd, "budget"), k.budget_duration ? el("span", { class: "hint", text: "resets every " + k.budget_duration }) : null),
            el("td", {}, el("span", { class: "badge " + (k.blocked ? "bad" : "ok"), text: k.blocked ? "Blocked" : "Active" }))))))) 
          : el("p", { class: "hint", text: "No virtual keys in your name; your usage through SSO is below." })), body);
    }
    async function draw() {
      const d = await api("GET", "overview?range=" + sel.value);
      const t = d.totals;
      const xs = d.t;
      body.replaceChildren(
        el("div", { class: "stats" },
          stat("requests", "Requests", num(t.requests)), stat("errors", "Errors", num(t.errors)),
          stat("error-rate", "Error rate", t.requests ? (100 * t.errors / t.requests).toFixed(1) + "%" : "–"),
          stat("spend", "Spend", usd(t.spend)), stat("ttft-p50", "TTFT p50", ms(t.ttft_p50_ms)), stat("ttft-p99", "TTFT p99", ms(t.ttft_p99_ms))),
        el("div", { class: "grid" },
          chart("Requests and errors", xs, [
            { label: "Requests", values: d.requests, color: C.blue, summary: num(t.requests) },
            { label: "Errors", values: d.errors, color: C.verm, dash: [6, 4], summary: num(t.errors) }]),
          chart("Time to first token", xs, [
            { label: "p50", values: d.ttft_p50_ms, color: C.green, fmt: ms, axis: (v) => v + " ms", summary: ms(t.ttft_p50_ms) },
            { label: "p99", values: d.ttft_p99_ms, color: C.orange, dash: [6, 4], fmt: ms, axis: (v) => v + " ms", summary: ms(t.ttft_p99_ms) }]),
          chart("Spend (USD)", xs, [{ label: "Spend", values: d.spend, color: C.purple, fmt: usd, axis: (v) => "$" + v, summary: usd(t.spend) }], { bars: true })));
    }
    await draw();
  }

  const GROUPS = [["model_group", "Model group"], ["user", "User"], ["team", "Team"], ["api_key", "Key"], ["deployment", "Deployment"], ["provider", "Provider"], ["day", "Day"]];

  async function pageSpend(root) {
    const today = new Date();
    const by = el("select", { id: "group-by" }, GROUPS.filter(([g]) => sess.role === "admin" || !["user", "team", "api_key"].includes(g)).map(([v, l]) => el("option", { value: v, text: l })));
    const start = el("input", { id: "start-date", type: "date", value: isoDay(new Date(today - 6 * 864e5)) });
    const end = el("input", { id: "end-date", type: "date", value: isoDay(today) });
    const csv = el("a", { class: "button", id: "csv", download: "", text: "Download CSV" });
    const body = el("div");
    const form = el("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); draw(); } },
      el("label", {}, "Group by", by), el("label", {}, "From", start), el("label", {}, "To", end),
      el("button", { type: "submit", text: "Apply" }), csv);
    root.append(el("h1", { text: "Spend" }), form, body);
    async function draw() {
      const q = "start_date=" + start.value + "&end_date=" + end.value;
      csv.href = API + "spend.csv?group_by=" + by.value + "&" + q;
      const [rep, days] = await Promise.all([api("GET", "spend?group_by=" + by.value + "&" + q), api("GET", "spend?group_by=day&" + q)]);
      if (by.value === "api_key" && sess.role === "admin") {
        // Key hashes mean little to a reader: show each key's alias and name.
        try {
          const names = {};
          for (const k of (await api("GET", "admin/key/list?return_full_object=true&size=100")).keys) names[k.token] = (k.key_alias ? k.key_alias + " · " : "") + k.key_name;
          rep.data.forEach((r) => { if (names[r.group]) r.group = names[r.group]; });
        } catch (_) { /* hashes, then */ }
      }
      const xs = days.data.map((r) => Date.parse(r.group + "T00:00:00Z") / 1000);
      const label = GROUPS.find(([g]) => g === by.value)[1];
      body.replaceChildren(
        el("div", { class: "stats" }, stat("spend-total", "Spend", usd(rep.total.spend)), stat("spend-requests", "Requests", num(rep.total.requests)),
          stat("spend-tokens", "Tokens", num(rep.total.total_tokens))),
        xs.length ? chart("Spend per day (USD)", xs, [{ label: "Spend", values: days.data.map((r) => r.spend), color: C.blue, fmt: usd, axis: (v) => "$" + v, summary: usd(days.total.spend) }], { bars: true }) : el("p", { class: "empty", text: "No spend in this range." }),
        el("section", { class: "card" }, el("h2", { text: "By " + label.toLowerCase() }),
          sortableTable([
            { key: "group", label: label, render: (r) => r.group || "(none)" },
            { key: "requests", label: "Requests", num: true, render: (r) => num(r.requests) },
            { key: "failed_requests", label: "Failed", num: true, render: (r) => num(r.failed_requests) },
            { key: "prompt_tokens", label: "Input tokens", num: true, render: (r) => num(r.prompt_tokens) },
            { key: "completion_tokens", label: "Output tokens", num: true, render: (r) => num(r.completion_tokens) },
            { key: "total_tokens", label: "Total tokens", num: true, render: (r) => num(r.total_tokens) },
            { key: "spend", label: "Spend", num: true, render: (r) => usd(r.spend) }], rep.data, "Spend " + start.value + " to " + end.value + " (UTC days)")));
    }
    await draw();
  }

  // pageDeployments follows the live stream (server-sent events); the
  // server ends each stream after a while and the page reconnects. When
  // streams fail (no EventSource, refused, three errors in a row) it polls.
  async function pageDeployments(root) {
    const body = el("div");
    const dot = el("span", { class: "live", "aria-hidden": "true" });
    const status = el("span");
    const line = el("p", { class: "hint", id: "deploy-updated", "data-mode": "connecting", "data-connections": "0" }, dot, status);
    root.append(el("h1", { text: "Deployments" }), line, body);
    let mode = "live", window_ = 0;
    function render(d) {
      if (d.error) { status.textContent = d.error; return; }
      const now = Date.parse(d.now);
      window_ = d.recent_window;
      status.textContent = (mode === "live" ? "Live" : "Polling every 3 s") + " · updated " + new Date(now).toLocaleTimeString() + ". Recent errors: among the newest " + window_ + " requests.";
      body.replaceChildren(el("div", { class: "table-wrap" }, el("table", { id: "deployments" },
        el("thead", {}, el("tr", {}, ["Deployment", "Provider", "Health", "Cooldown ends", "In flight", "RPM", "TPM", "TTFT (recent)", "Recent errors"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, d.deployments.map((x) => el("tr", { "data-id": x.model_id },
          el("td", {}, el("strong", { text: x.model_name }), el("br"), el("span", { class: "hint", text: x.model_id + " · " + x.model })),
          el("td", { text: x.provider + (x.region ? " · " + x.region : "") }),
          el("td", {}, el("span", { class: "badge " + (x.healthy ? "ok" : "bad"), text: x.healthy ? "Healthy" : "Cooling down" })),
          el("td", {}, x.healthy ? "–" : [el("span", { text: when(x.cooldown_until) + " (in " + Math.max(0, Math.ceil((Date.parse(x.cooldown_until) - now) / 1000)) + " s)" }), el("br"), el("span", { class: "hint", text: x.cooldown_reason || "" })]),
          el("td", { class: "num", text: num(x.in_flight) }),
          el("td", {}, meter(x.rpm_used, x.rpm, num, "requests this minute")),
          el("td", {}, meter(x.tpm_used, x.tpm, num, "tokens this minute")),
          el("td", { class: "num", text: ms(x.latency_ms) }),
          el("td", {}, x.recent_errors.length ? el("ul", {}, x.recent_errors.map((e) => el("li", { text: new Date(e.time).toLocaleTimeString() + " " + e.status + " " + (e.error_type || "") }))) : el("span", { class: "hint", text: x.recent_requests + " ok" }))))))));
    }
    function poll() {
      mode = "poll";
      line.setAttribute("data-mode", "poll");
      dot.classList.add("poll");
      const draw = () => api("GET", "deployments").then(render);
      timers.push(setInterval(() => draw().catch(() => {}), 3000));
      return draw();
    }
    if (!window.EventSource) return poll();
    await new Promise((resolve) => {
      let fails = 0, conns = 0, done = false;
      const settle = () => { if (!done) { done = true; resolve(); } };
      function open() {
        const es = new EventSource(API + "deployments/stream");
        streams.push(es);
        line.setAttribute("data-connections", String(++conns));
        es.addEventListener("deployments", (e) => {
          fails = 0;
          line.setAttribute("data-mode", "live");
          render(JSON.parse(e.data));
          settle();
        });
        // The server's lifetime cap: reconnect at once, not after an error.
        es.addEventListener("end", () => { es.close(); streams = streams.filter((x) => x !== es); open(); });
        es.onerror = () => {
          if (es.readyState === EventSource.CLOSED || ++fails >= 3) {
            es.close();
            streams = streams.filter((x) => x !== es);
            poll().then(settle, settle);
          }
        };
      }
      open();
    });
  }

  // formDialog asks for fields and resolves with the values (null: cancelled).
  function formDialog(title, fields, initial) {
    return new Promise((resolve) => {
      const inputs = {};
      const f = el("form", { method: "dialog", class: "grid-form" },
        fields.map((fd) => {
          const v = initial && initial[fd.name] !== undefined && initial[fd.name] !== null ? (Array.isArray(initial[fd.name]) ? initial[fd.name].join(", ") : initial[fd.name]) : "";
          inputs[fd.name] = el("input", { name: fd.name, id: "f-" + fd.name, type: fd.type || "text", value: v, placeholder: fd.hint || "", step: fd.type === "number" ? "any" : null, min: fd.type === "number" ? 0 : null });
          return el("label", {}, fd.label, inputs[fd.name]);
        }),
        el("div", { class: "actions" }, el("button", { type: "submit", value: "ok", text: "Save" }), el("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => dlg.close("") })));
      const dlg = el("dialog", { "aria-label": title }, el("h2", { text: title }), f);
      f.addEventListener("submit", (e) => { e.preventDefault(); dlg.close("ok"); });
      dlg.addEventListener("close", () => {
        dlg.remove();
        if (dlg.returnValue !== "ok") return resolve(null);
        const out = {};
        for (const fd of fields) {
          const raw = inputs[fd.name].value.trim();
          if (raw === "") { if (initial) out[fd.name] = fd.list ? [] : null; continue; }
          out[fd.name] = fd.list ? raw.split(",").map((s) => s.trim()).filter(Boolean) : fd.type === "number" ? Number(raw) : raw;
        }
        resolve(out);
      });
      document.body.append(dlg);
      dlg.showModal();
    });
  }

  // showSecret shows a new key once, with a copy button.
  function showSecret(secret, title) {
    return new Promise((resolve) => {
      const dlg = el("dialog", { "aria-label": title },
        el("h2", { text: title }),
        el("p", { text: "Copy it now: it is not stored and will not be shown again." }),
        el("p", { class: "secret", id: "new-key", text: secret }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "secondary", text: "Copy", onclick: () => navigator.clipboard && navigator.clipboard.writeText(secret).then(() => toast("Copied"), () => {}) }),
          el("button", { type: "button", id: "done-key", text: "Done", onclick: () => dlg.close() })));
      dlg.addEventListener("close", () => { dlg.remove(); resolve(); });
      document.body.append(dlg);
      dlg.showModal();
    });
  }

  // confirmDialog asks before a change that cannot be undone (a <dialog>,
  // keyboard reachable, instead of the page-blocking window.confirm).
  function confirmDialog(title, text, ok) {
    return new Promise((resolve) => {
      const dlg = el("dialog", { "aria-label": title },
        el("h2", { text: title }), el("p", { text: text }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "danger", id: "confirm-ok", text: ok, onclick: () => dlg.close("ok") }),
          el("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => dlg.close("") })));
      dlg.addEventListener("close", () => { dlg.remove(); resolve(dlg.returnValue === "ok"); });
      document.body.append(dlg);
      dlg.showModal();
    });
  }

  function notServed(root, what, e) {
    root.append(el("p", { class: "empty", text: e.status === 404 ? "This gateway does not serve " + what + " yet." : "Could not load: " + e.message }));
  }

  const KEY_FIELDS = [
    { name: "key_alias", label: "Alias" }, { name: "user_id", label: "User id" }, { name: "team_id", label: "Team id" },
    { name: "models", label: "Models (comma-separated)", list: true, hint: "all" },
    { name: "max_budget", label: "Max budget (USD)", type: "number" }, { name: "budget_duration", label: "Budget resets", hint: "30d, 1mo" },
    { name: "rpm_limit", label: "RPM limit", type: "number" }, { name: "tpm_limit", label: "TPM limit", type: "number" }];

  async function pageKeys(root) {
    const body = el("div");
    root.append(el("h1", { text: "Keys" }), el("div", { class: "toolbar" },
      el("button", { type: "button", id: "create-key", text: "Create key", onclick: create })), body);
    async function create() {
      const v = await formDialog("Create key", KEY_FIELDS.concat([{ name: "duration", label: "Expires after", hint: "30d (empty: never)" }]));
      if (!v) return;
      try {
        const k = await api("POST", "admin/key/generate", v);
        await showSecret(k.key, "New key " + (k.key_alias || k.key_name));
        await draw();
      } catch (e) { toast("Create failed: " + e.message); }
    }
    async function act(path, body, msg) {
      try { await api("POST", path, body); toast(msg); await draw(); } catch (e) { toast("Failed: " + e.message); }
    }
    // regenerate gives the key a new secret (same budget, limits and
    // spend), shown once; the old secret stops working at once.
    async function regenerate(k) {
      const name = k.key_alias || k.key_name;
      if (!await confirmDialog("Regenerate key " + name, "A new secret replaces it; clients using the old one stop at once.", "Regenerate")) return;
      try {
        const out = await api("POST", "admin/key/regenerate", { key: k.token });
        await showSecret(out.key, "New secret for " + name);
        await draw();
      } catch (e) { toast("Regenerate failed: " + e.message); }
    }
    async function draw() {
      const list = await api("GET", "admin/key/list?return_full_object=true&size=100");
      const keys = list.keys;
      const spend = keys.length ? (await api("GET", "key-spend?tokens=" + keys.map((k) => k.token).join(","))).data : {};
      body.replaceChildren(el("p", { class: "hint", text: list.total_count + " keys" + (list.total_count > 100 ? " (first 100)" : "") }), el("div", { class: "table-wrap" }, el("table", { id: "keys" },
        el("thead", {}, el("tr", {}, ["Alias", "Key", "User", "Team", "Models", "Budget", "Limits", "Status", "Actions"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, keys.length ? keys.map((k) => el("tr", { "data-token": k.token },
          el("td", { class: "alias", text: k.key_alias || "" }), el("td", { text: k.key_name }),
          el("td", { text: k.user_id || "" }), el("td", { text: k.team_id || "" }),
          el("td", { text: (k.models || []).join(", ") || "all" }),
          el("td", {}, meter((spend[k.token] || {}).spend, k.max_budget, usd, "budget"), k.budget_duration ? el("span", { class: "hint", text: "resets every " + k.budget_duration }) : null),
          el("td", { class: "hint", text: "rpm " + (k.rpm_limit ?? "–") + " · tpm " + (k.tpm_limit ?? "–") + (k.expires ? " · expires " + when(k.expires) : "") }),
          el("td", {}, el("span", { class: "badge " + (k.blocked ? "bad" : "ok"), text: k.blocked ? "Blocked" : "Active" })),
          el("td", {}, el("div", { class: "actions" },
            el("button", { type: "button", class: "secondary", text: "Edit", "aria-label": "Edit " + (k.key_alias || k.key_name),
              onclick: async () => { const v = await formDialog("Edit key " + (k.key_alias || k.key_name), KEY_FIELDS, k); if (v) act("admin/key/update", Object.assign({ key: k.token }, v), "Saved"); } }),
            el("button", { type: "button", class: "secondary block", text: k.blocked ? "Unblock" : "Block", "aria-label": (k.blocked ? "Unblock " : "Block ") + (k.key_alias || k.key_name),
              onclick: () => act(k.blocked ? "admin/key/unblock" : "admin/key/block", { key: k.token }, k.blocked ? "Unblocked" : "Blocked") }),
            el("button", { type: "button", class: "secondary regen", text: "Regenerate", "aria-label": "Regenerate " + (k.key_alias || k.key_name),
              onclick: () => regenerate(k) }),
            el("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + (k.key_alias || k.key_name),
              onclick: async () => { if (await confirmDialog("Delete key " + (k.key_alias || k.key_name), "Clients using it stop at once.", "Delete")) act("admin/key/delete", { keys: [k.token] }, "Deleted"); } })))))
          : [el("tr", {}, el("td", { colspan: 9, class: "empty", text: "No keys yet." }))]))));
    }
    try { await draw(); } catch (e) { notServed(body, "/key/*", e); }
  }

  // adminTable is the users and teams pages (LiteLLM's /user/* and /team/* shapes).
  function adminPage(cfg) {
    return async function (root) {
      const body = el("div");
      root.append(el("h1", { text: cfg.title }), el("div", { class: "toolbar" },
        el("button", { type: "button", id: "create-" + cfg.id, text: "Create " + cfg.noun, onclick: create })), body);
      async function create() {
        const v = await formDialog("Create " + cfg.noun, cfg.fields);
        if (!v) return;
        try {
          const out = await api("POST", cfg.create, v);
          if (out && out.key) await showSecret(out.key, "Key for " + cfg.noun + " " + (out[cfg.idField] || ""));
          else toast("Created");
          await draw();
        } catch (e) { toast("Create failed: " + e.message); }
      }
      async function act(path, b, msg) {
        try { await api("POST", path, b); toast(msg); await draw(); } catch (e) { toast("Failed: " + e.message); }
      }
      async function draw() {
        const raw = await api("GET", cfg.list);
        const rows = Array.isArray(raw) ? raw : (raw[cfg.listField] || raw.data || []);
        body.replaceChildren(el("div", { class: "table-wrap" }, el("table", { id: cfg.id },
          el("thead", {}, el("tr", {}, cfg.cols.map((c) => el("th", { scope: "col", text: c[1] })), el("th", { scope: "col", text: "Budget" }), el("th", { scope: "col", text: "Actions" }))),
          el("tbody", {}, rows.length ? rows.map((r) => el("tr", {},
            cfg.cols.map((c) => el("td", { text: Array.isArray(r[c[0]]) ? r[c[0]].map((x) => typeof x === "object" ? (x.user_id || JSON.stringify(x)) : x).join(", ") : (r[c[0]] ?? "") })),
            el("td", {}, meter(r.spend, r.max_budget, usd, "budget")),
            el("td", {}, el("div", { class: "actions" },
              el("button", { type: "button", class: "secondary", text: "Edit", onclick: async () => { const v = await formDialog("Edit " + cfg.noun + " " + r[cfg.idField], cfg.fields.filter((f) => f.name !== cfg.idField), r); if (v) act(cfg.update, Object.assign({ [cfg.idField]: r[cfg.idField] }, v), "Saved"); } }),
              el("button", { type: "button", class: "secondary", text: r.blocked ? "Unblock" : "Block", onclick: () => act(cfg.update, { [cfg.idField]: r[cfg.idField], blocked: !r.blocked }, r.blocked ? "Unblocked" : "Blocked") }),
              el("button", { type: "button", class: "danger", text: "Delete", onclick: async () => { if (await confirmDialog("Delete " + cfg.noun + " " + r[cfg.idField], "This cannot be undone.", "Delete")) act(cfg.del, { [cfg.delField]: [r[cfg.idField]] }, "Deleted"); } })))))
            : [el("tr", {}, el("td", { colspan: cfg.cols.length + 2, class: "empty", text: "None yet." }))]))));
      }
      try { await draw(); } catch (e) { notServed(body, cfg.title.toLowerCase(), e); }
    };
  }

  const pageUsers = adminPage({
    id: "users", title: "Users", noun: "user", idField: "user_id", list: "users", listField: "users",
    create: "admin/user/new", update: "admin/user/update", del: "admin/user/delete", delField: "user_ids",
    cols: [["user_id", "User id"], ["user_email", "Email"], ["user_role", "Role"], ["teams", "Teams"], ["models", "Models"]],
    fields: [{ name: "user_id", label: "User id" }, { name: "user_email", label: "Email", type: "email" }, { name: "user_role", label: "Role", hint: "internal_user" },
      { name: "models", label: "Models", list: true }, { name: "max_budget", label: "Max budget (USD)", type: "number" }, { name: "budget_duration", label: "Budget resets", hint: "30d" }],
  });

  const pageTeams = adminPage({
    id: "teams", title: "Teams", noun: "team", idField: "team_id", list: "teams", listField: "teams",
    create: "admin/team/new", update: "admin/team/update", del: "admin/team/delete", delField: "team_ids",
    cols: [["team_id", "Team id"], ["team_alias", "Alias"], ["members_with_roles", "Members"], ["models", "Models"]],
    fields: [{ name: "team_id", label: "Team id" }, { name: "team_alias", label: "Alias" }, { name: "models", label: "Models", list: true },
      { name: "max_budget", label: "Max budget (USD)", type: "number" }, { name: "budget_duration", label: "Budget resets", hint: "30d" },
      { name: "rpm_limit", label: "RPM limit", type: "number" }, { name: "tpm_limit", label: "TPM limit", type: "number" }],
  });

  const LOG_COLS = [["startTime", "Time"], ["model_group", "Model group"], ["model_id", "Deployment"], ["status", "Status"], ["time_to_first_token_ms", "TTFT"], ["prompt_tokens", "In"], ["completion_tokens", "Out"], ["spend", "Cost"], ["key_alias", "Key"]];

  async function pageLogs(root) {
    const f = {};
    const inp = (name, label, type) => (f[name] = el("input", { id: "log-" + name, name, type: type || "text" }), el("label", {}, label, f[name]));
    const errorsOnly = el("input", { type: "checkbox", id: "log-errors" });
    const tbody = el("tbody");
    const more = el("button", { type: "button", class: "secondary", text: "Load more", hidden: true, onclick: () => load(false) });
    let cursor = null;
    const form = el("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); load(true); } },
      inp("model", "Model"), sess.role === "admin" ? inp("api_key", "Key or its hash") : null, inp("request_id", "Request id"),
      inp("start_date", "From", "date"), inp("end_date", "To", "date"),
      el("label", {}, "Errors only", errorsOnly), el("button", { type: "submit", text: "Filter" }));
    root.append(el("h1", { text: "Request log" }), form, el("div", { class: "table-wrap" }, el("table", { id: "logs" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }), LOG_COLS.map((c) => el("th", { scope: "col", text: c[1] })))), tbody)), more,
    el("p", { class: "hint", text: "Prompts and answers are not stored; a record holds usage, cost and outcome." }));
    function row(r) {
      const detail = el("tr", { class: "detail", hidden: true }, el("td", { colspan: LOG_COLS.length + 1 },
        el("dl", { class: "kv" }, Object.entries(r).map(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })]))));
      const btn = el("button", { type: "button", class: "secondary", text: "+", "aria-expanded": "false", "aria-label": "Details of " + r.request_id,
        onclick: () => { detail.hidden = !detail.hidden; btn.setAttribute("aria-expanded", String(!detail.hidden)); btn.textContent = detail.hidden ? "+" : "−"; } });
      const cell = (k) => k === "startTime" ? when(r[k]) : k === "spend" ? usd(r[k]) : k === "time_to_first_token_ms" ? (r[k] ? ms(r[k]) : "–") : k === "key_alias" ? (r.key_alias || r.user || "") : String(r[k] ?? "");
      return [el("tr", { class: r.status >= 400 || !r.status ? "failed" : "" }, el("td", {}, btn), LOG_COLS.map((c) => el("td", { text: cell(c[0]) }))), detail];
    }
    async function load(fresh) {
      if (fresh) { cursor = null; tbody.replaceChildren(); }
      const q = new URLSearchParams({ limit: "100" });
      for (const [k, i] of Object.entries(f)) if (i.value.trim()) q.set(k, i.value.trim());
      if (cursor) q.set("cursor", cursor);
      try {
        const d = await api("GET", "logs?" + q);
        const recs = errorsOnly.checked ? d.data.filter((r) => r.status >= 400 || !r.status) : d.data;
        tbody.append(...recs.flatMap(row));
        if (!tbody.children.length) tbody.append(el("tr", {}, el("td", { colspan: LOG_COLS.length + 1, class: "empty", text: "No requests match." })));
        cursor = d.next_cursor;
        more.hidden = !d.has_more;
      } catch (e) { toast("Could not load: " + e.message); }
    }
    await load(true);
  }

  const PAGES = { overview: pageOverview, spend: pageSpend, deployments: pageDeployments, keys: pageKeys, users: pageUsers, teams: pageTeams, logs: pageLogs };

  // ---- shell ----

  let ssoOffered = false;

  function showSignin(msg) {
    const h = location.hash;
    if (h && h !== "#/signin") wanted = h;
    sess = null;
    stop();
    $("nav").hidden = true;
    $("signout").hidden = true;
    $("who").textContent = "";
    $("page").replaceChildren();
    $("signin").hidden = false;
    $("signin-error").textContent = msg || "";
    if (location.hash !== "#/signin") history.replaceState(null, "", "#/signin");
    $("signin-sso").hidden = !ssoOffered;
    // The server accepts only a console route as "next" (no open redirect).
    $("sso-button").href = "sso/start" + (wanted ? "?next=" + encodeURIComponent(wanted) : "");
    $("signin-key").focus();
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
    streams.forEach((es) => es.close());
    streams = [];
    charts.forEach((u) => u.destroy());
    charts = [];
  }

  async function route() {
    if (!sess) return;
    let name = location.hash.replace(/^#\//, "") || "overview";
    const admin = sess.role === "admin";
    if (!PAGES[name] || name === "signin" || (!admin && document.querySelector('#nav a[data-page="' + name + '"][data-admin]'))) name = "overview";
    if (location.hash !== "#/" + name) history.replaceState(null, "", "#/" + name);
    stop();
    document.querySelectorAll("#nav a").forEach((a) => {
      a.hidden = a.hasAttribute("data-admin") && !admin;
      if (a.dataset.page === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    const root = el("div", { id: "page-" + name });
    $("page").replaceChildren(root);
    document.title = name[0].toUpperCase() + name.slice(1) + " · claude-gateway console";
    try {
      await PAGES[name](root);
      root.setAttribute("data-ready", "true");
    } catch (e) {
      if (e.status !== 401) root.append(el("p", { class: "error", role: "alert", text: "Could not load: " + e.message }));
    }
  }

  function signedIn(s) {
    sess = s;
    $("signin").hidden = true;
    $("nav").hidden = false;
    $("signout").hidden = false;
    $("who").textContent = s.user ? (s.role === "admin" ? "admin · " : "") + s.user.email
      : s.role === "admin" ? "admin" : "key " + ((s.key && (s.key.key_alias || s.key.key_name)) || "");
    route().then(() => $("main").focus());
  }

  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("signin-key");
    try {
      const s = await api("POST", "login", { key: input.value });
      input.value = "";
      if (location.hash === "#/signin") history.replaceState(null, "", "#/overview");
      signedIn(s);
    } catch (err) {
      $("signin-error").textContent = err.status === 401 ? "That key is unknown, blocked or expired." : "Sign-in failed: " + err.message;
    }
  });
  $("signout").addEventListener("click", async () => {
    try { await api("POST", "logout", {}); } catch (_) { /* signed out anyway */ }
    showSignin("Signed out.");
  });
  window.addEventListener("hashchange", route);

  api("GET", "session").then((s) => { ssoOffered = !!s.sso; s.role ? signedIn(s) : showSignin(""); }, (e) => showSignin("Could not reach the gateway: " + e.message));
})();
