// journeyctl ui: draws each page from /api/... and fetches it again every few seconds, changing
// only the numbers in place (no reload). Text from the store only ever goes in through textContent.
"use strict";
(function () {
  const app = document.getElementById("app");
  const page = app.dataset.page, ident = app.dataset.id, pollMs = +app.dataset.poll || 2000;
  const params = new URLSearchParams(location.search);
  const periodSel = document.getElementById("period");
  let period = params.get("period") || localStorage.getItem("journeyctl.period") || (page === "segment" ? "24h" : "all");
  periodSel.value = period;
  const charts = {};
  let built = null;   // what the page was built for: rebuilt when the shape changes (a new journey, version)

  // ---- small helpers ------------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  const fmt = (n) => (n === null || n === undefined) ? "–" : (typeof n === "number" ? n.toLocaleString("en-US") : String(n));
  const pct = (x) => (x === null || x === undefined) ? "–" : (100 * x).toFixed(1) + "%";
  const pp = (x) => (x === null || x === undefined) ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + " pp";
  // a number cell the tests (and the live updates) find by its key
  function num(key, value) { return el("span", {class: "num", "data-k": key, "data-v": value === null ? "" : value, text: fmt(value)}); }
  function setNum(key, value) {
    for (const e of document.querySelectorAll(`[data-k="${CSS.escape(key)}"]`)) {
      const v = value === null || value === undefined ? "" : String(value);
      if (e.dataset.v !== v) { e.dataset.v = v; e.textContent = fmt(value); e.classList.remove("moved"); void e.offsetWidth; e.classList.add("moved"); }
    }
  }
  function link(href, text) { return el("a", {href: href + (period !== "all" ? `?period=${period}` : ""), text}); }
  function table(cls, head, rows) {
    return el("table", {class: cls}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {text: h})))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
  }
  function section(title, ...kids) { return el("section", {}, el("h2", {text: title}), ...kids); }
  function card(label, key, value) { return el("div", {class: "card"}, el("div", {class: "label", text: label}), num(key, value)); }
  async function get(url) {
    const r = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    const body = await r.json().catch(() => ({error: `HTTP ${r.status}`}));
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  }
  function chart(name, target, data, labels, colors) {
    const opts = {width: Math.max(320, target.clientWidth || 640), height: 200, series: [{}].concat(labels.map((l, i) => ({label: l, stroke: colors[i], width: 2}))),
      scales: {x: {time: true}}, axes: [{}, {size: 56}], legend: {live: false}};
    const rows = [data.t].concat(labels.map((l) => data[l] || []));
    if (charts[name] && charts[name].root.isConnected && charts[name].labels === labels.join()) { charts[name].setData(rows); return; }
    target.replaceChildren();
    charts[name] = new uPlot(opts, rows, target);
    charts[name].labels = labels.join();
  }
  const COLORS = ["#2563eb", "#16a34a", "#d97706", "#7c3aed"];
  // entered, converted, sent by the engine; delivered once `journeyctl deliver` writes to the store
  const chartLabels = (d) => ["entered", "converted", "sent"].concat("delivered" in d.chart ? ["delivered"] : []);
  // ---- sends by channel: the engine's statuses, then what `journeyctl deliver` made of them --------------
  const STATUSES = {send: "sent by the engine", suppressed: "suppressed", held_out: "held out", unreachable: "unreachable"};
  const OUTCOMES = {delivered: "delivered", failed: "failed (dead-lettered)", retried: "retried", rate_limited: "rate-limited"};
  function sendsShape(d) { return JSON.stringify([Object.entries(d.sends).map(([c, s]) => [c, Object.keys(s)]), Object.keys(d.deliveries)]); }
  // with deliver's columns the table is too wide for a column of .cols: then it gets a row of its own
  const sendsWide = (d) => Object.keys(d.deliveries).length > 0;
  function sendsSection(d) {
    const statuses = Object.keys(STATUSES).filter((st) => Object.values(d.sends).some((s) => st in s));
    const outcomes = Object.keys(d.deliveries).length ? Object.keys(OUTCOMES) : [];
    const channels = [...new Set(Object.keys(d.sends).concat(Object.keys(d.deliveries)))].sort();
    const rows = channels.map((ch) => [el("span", {text: ch}),
      ...statuses.map((st) => num(`sends.${ch}.${st}`, (d.sends[ch] || {})[st] || 0)),
      ...outcomes.map((o) => num(`deliveries.${ch}.${o}`, (d.deliveries[ch] || {})[o] || 0))]);
    return section("Sends by channel and status", rows.length ? table("sends", ["channel", ...statuses.map((st) => STATUSES[st]),
      ...outcomes.map((o) => OUTCOMES[o])], rows) : el("p", {class: "muted", text: "Nothing sent in this period."}),
      outcomes.length ? null : el("p", {class: "muted small", text: "Delivered and failed appear once journeyctl deliver writes to this store."}));
  }
  function setSends(d) {
    for (const [ch, s] of Object.entries(d.sends)) for (const [st, n] of Object.entries(s)) setNum(`sends.${ch}.${st}`, n);
    for (const [ch, s] of Object.entries(d.deliveries)) for (const [o, n] of Object.entries(s)) setNum(`deliveries.${ch}.${o}`, n);
  }
  function periodWord(d) { return d.period === "all" || !d.since ? "since the store began" : `since ${d.since.replace("T", " ").slice(0, 16)} UTC`; }

  // ---- the overview ----------------------------------------------------------------------------------
  function overview(d) {
    const shape = "overview|" + Object.keys(d.journeys).join(",") + "|" + Object.keys(d.segments).join(",") + "|" +
      sendsShape(d) + "|" + Object.keys(d.dead_letters).join(",") + "|" + d.period;
    if (built !== shape) {
      built = shape;
      const jrows = Object.entries(d.journeys).map(([j, c]) => {
        const det = d.journey_details[j];
        return [link(`/journeys/${encodeURIComponent(j)}`, j), el("span", {class: "muted", text: det.title || ""}),
          ...["entered", "active", "completed", "converted", "cancelled", "exited"].map((k) => num(`journeys.${j}.${k}`, c[k])),
          el("span", {"data-conv": j}), el("span", {"data-conv-h": j}), el("span", {"data-uplift": j})];
      });
      const srows = Object.entries(d.segments).map(([s, c]) => [link(`/segments/${encodeURIComponent(s)}`, s),
        num(`segments.${s}.members`, c.members), num(`segments.${s}.entered`, c.entered), num(`segments.${s}.exited`, c.exited)]);
      const deadRows = Object.entries(d.dead_letters).map(([r, n]) => [el("span", {text: r}), num(`dead_letters.${r}`, n)]);
      app.replaceChildren(
        el("h1", {text: "Journeys"}),
        el("p", {class: "muted", id: "period-note"}),
        el("div", {class: "cards"}, card("events applied", "events", d.events), card("instances waiting on a timer", "pending_timers", d.pending_timers),
          card("consumer lag", "lag", d.lag), card("outbox", "outbox", d.outbox)),
        section("Journeys", table("journeys", ["journey", "", "entered", "active (waiting now)", "completed", "converted", "cancelled", "exited",
          "conversion", "holdout", "uplift (95% interval)"], jrows), el("p", {class: "muted small", id: "test-note"})),
        section("Entries, conversions and sends", el("div", {class: "chart", id: "chart-overview"})),
        el("div", {class: "cols"},
          section("Segments", srows.length ? table("segments", ["segment", "members", "entered", "exited"], srows) : el("p", {class: "muted", text: "No segment has had a member yet."})),
          sendsWide(d) ? null : sendsSection(d),
          section("Dead letters by reason", deadRows.length ? table("dead", ["reason", "count"], deadRows) : el("p", {class: "muted", text: "None in this period."}))),
        ...(sendsWide(d) ? [sendsSection(d)] : []),
        section("Next timers", el("div", {id: "waiting"})));
    }
    document.getElementById("period-note").textContent = `Counts ${periodWord(d)}; "active" is always now. Engine clock ${d.clock || "–"}.`;
    for (const k of ["events", "pending_timers", "lag", "outbox"]) setNum(k, d[k]);
    for (const [j, c] of Object.entries(d.journeys)) {
      for (const k of Object.keys(c)) setNum(`journeys.${j}.${k}`, c[k]);
      const cv = d.journey_details[j].conversion;
      document.querySelector(`[data-conv="${CSS.escape(j)}"]`).textContent = cv.treated.entered ? `${pct(cv.treated.rate)} of ${fmt(cv.treated.entered)}` : "–";
      document.querySelector(`[data-conv-h="${CSS.escape(j)}"]`).textContent = cv.holdout.entered ? `${pct(cv.holdout.rate)} of ${fmt(cv.holdout.entered)}` : "no holdout";
      document.querySelector(`[data-uplift="${CSS.escape(j)}"]`).textContent = cv.uplift === null ? "–" :
        `${pp(cv.uplift)} (${pp(cv.interval[0])} to ${pp(cv.interval[1])})`;
      document.getElementById("test-note").textContent = "Uplift: " + cv.test + ".";
    }
    for (const [s, c] of Object.entries(d.segments)) for (const k of Object.keys(c)) setNum(`segments.${s}.${k}`, c[k]);
    setSends(d);
    for (const [r, n] of Object.entries(d.dead_letters)) setNum(`dead_letters.${r}`, n);
    document.getElementById("waiting").replaceChildren(d.waiting.length ? table("waiting", ["due", "customer", "journey", "step"], d.waiting.map((w) =>
      [el("span", {text: w.due}), link(`/customers/${encodeURIComponent(w.customer_id)}`, w.customer_id),
       link(`/journeys/${encodeURIComponent(w.journey)}`, w.journey), el("span", {text: `${w.step} (${w.kind})`})])) : el("p", {class: "muted", text: "No timer is waiting."}));
    chart("overview", document.getElementById("chart-overview"), d.chart, chartLabels(d), COLORS);
  }

  // ---- one journey ----------------------------------------------------------------------------------
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function drawGraph(g) {
    const root = svg("svg", {viewBox: `0 0 ${g.width} ${g.height}`, width: g.width, height: g.height, class: "graph", role: "img"});
    const defs = svg("defs");
    defs.append(Object.assign(svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"}),
      {}));
    defs.firstChild.append(svg("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#374151"}));
    root.append(defs);
    for (const e of g.edges) {
      const [[x1, y1], [x2, y2]] = e.points;
      const my = (y1 + y2) / 2;
      const d = y1 === y2 || Math.abs(y2 - y1) < 10 ? `M ${x1} ${y1} L ${x2} ${y2}` : `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`;
      root.append(svg("path", {d, class: `edge ${e.kind}`, "marker-end": "url(#arrow)"}));
      const lx = (x1 + x2) / 2 + 4, ly = my - 4;
      const label = svg("text", {x: lx, y: ly, class: "elabel"});
      e.label.split("\n").forEach((line, i) => label.append(svg("tspan", {x: lx, dy: i ? 13 : 0}, line)));
      label.append(svg("tspan", {x: lx, dy: e.label ? 14 : 0, class: "ecount", "data-k": `edges.${e.id}`, "data-v": ""}, ""));
      root.append(label);
    }
    for (const n of g.nodes) {
      const grp = svg("g", {class: `node ${n.kind}`, transform: `translate(${n.x},${n.y})`, "data-node": n.id});
      grp.append(svg("rect", {width: n.w, height: n.h, rx: n.kind === "end" || n.kind === "start" ? 14 : 4}));
      n.lines.forEach((line, i) => grp.append(svg("text", {x: 10, y: 22 + i * 16}, line)));
      if (n.kind !== "note") {
        const y = 22 + n.lines.length * 16;
        const t = svg("text", {x: 10, y, class: "counts"});
        t.append(svg("tspan", {}, n.kind === "end" ? "" : "passed "), svg("tspan", {"data-k": `steps.${n.id}.passed`, "data-v": "", class: "strong"}, ""));
        if (n.kind === "wait" || n.kind === "decision") t.append(svg("tspan", {}, " · waiting "), svg("tspan", {"data-k": `steps.${n.id}.waiting`, "data-v": "", class: "strong waiting"}, ""));
        grp.append(t);
        grp.append(svg("text", {x: 10, y: y + 16, class: "left", "data-left": n.id}, ""));
      }
      root.append(grp);
    }
    return root;
  }
  function journey(d) {
    const shape = `journey|${d.journey}|${d.version}|${d.versions.map((v) => v.version).join(",")}|${sendsShape(d)}|${d.period}`;
    if (built !== shape) {
      built = shape;
      const vrows = d.versions.map((v) => [el("a", {href: `?version=${v.version}${period !== "all" ? "&period=" + period : ""}`, text: v.version}),
        el("span", {text: v.current ? "loaded now" : ""}), num(`versions.${v.version}.entered`, v.entered), num(`versions.${v.version}.active`, v.active)]);
      app.replaceChildren(
        el("p", {class: "crumbs"}, el("a", {href: "/", text: "Overview"}), " › journey"),
        el("h1", {}, el("span", {text: d.journey}), el("span", {class: "muted", text: d.title ? `  ${d.title}` : ""})),
        el("p", {class: "muted", id: "period-note"}),
        el("div", {class: "cards"}, ...["entered", "active", "completed", "converted", "cancelled", "exited", "restarted"].map((k) => card(k === "active" ? "active (waiting now)" : k, `counts.${k}`, d.counts[k]))),
        section("Conversion against the holdout", el("div", {id: "conversion"})),
        section(`The journey, version ${d.version}${d.version !== d.current ? " (not the one loaded now)" : ""}`,
          el("p", {class: "muted small", text: "Counts since the store began: how many passed each step, how many wait there now, and where they left."}),
          el("div", {class: "graph-wrap"}, d.graph ? drawGraph(d.graph) : el("p", {class: "muted", text: "This version's definition is not in the store."}))),
        el("div", {class: "cols"},
          section("Funnel, entry to goal", el("div", {id: "funnel"})),
          section("Versions", table("versions", ["version", "", "entered", "instances still on it"], vrows)),
          sendsWide(d) ? null : sendsSection(d)),
        ...(sendsWide(d) ? [sendsSection(d)] : []),
        section("Entries, conversions and sends", el("div", {class: "chart", id: "chart-journey"})));
      charts.journey = null;
    }
    document.getElementById("period-note").textContent = `Counts ${periodWord(d)}; "active" is always now. Engine clock ${d.clock || "–"}.`;
    for (const [k, v] of Object.entries(d.counts)) setNum(`counts.${k}`, v);
    for (const v of d.versions) { setNum(`versions.${v.version}.entered`, v.entered); setNum(`versions.${v.version}.active`, v.active); }
    setSends(d);
    if (d.steps) {
      for (const [sid, s] of Object.entries(d.steps)) {
        setNum(`steps.${sid}.passed`, s.passed); setNum(`steps.${sid}.waiting`, s.waiting);
        const left = document.querySelector(`[data-left="${CSS.escape(sid)}"]`);
        if (left) left.textContent = Object.keys(s.left).length ? "left here: " + Object.entries(s.left).map(([r, n]) => `${r} ${fmt(n)}`).join(", ") : "";
      }
      for (const e of d.graph.edges) setNum(`edges.${e.id}`, e.count);
    }
    const cv = d.conversion;
    document.getElementById("conversion").replaceChildren(cv.holdout.entered || cv.treated.entered ? table("conversion", ["group", "entered", "converted", "rate"], [
      [el("span", {text: "messaged"}), num("conversion.treated.entered", cv.treated.entered), num("conversion.treated.converted", cv.treated.converted), el("span", {text: pct(cv.treated.rate)})],
      [el("span", {text: "holdout"}), num("conversion.holdout.entered", cv.holdout.entered), num("conversion.holdout.converted", cv.holdout.converted), el("span", {text: pct(cv.holdout.rate)})]]) : el("p", {class: "muted", text: "No entries in this period."}),
      el("p", {}, el("strong", {text: "Uplift: "}), el("span", {text: cv.uplift === null ? "needs entries in both groups (a journey with holdout N%)" :
        `${pp(cv.uplift)}, 95% interval ${pp(cv.interval[0])} to ${pp(cv.interval[1])}` + (cv.p_value !== null ? `, p = ${cv.p_value.toPrecision(2)}` : "")})),
      el("p", {class: "muted small", text: "Test: " + cv.test + "."}));
    const max = Math.max(1, ...(d.funnel || []).map((f) => f.count));
    document.getElementById("funnel").replaceChildren(...(d.funnel || []).map((f) => el("div", {class: "bar"},
      el("span", {class: "stage", text: f.stage}), el("span", {class: "fill", style: `width:calc((100% - 340px) * ${(f.count / max).toFixed(4)})`}), num(`funnel.${f.stage}`, f.count))));
    chart("journey", document.getElementById("chart-journey"), d.chart, chartLabels(d), COLORS);
  }

  // ---- one segment -----------------------------------------------------------------------------------
  function segment(d) {
    if (built !== "segment|" + d.period) {
      built = "segment|" + d.period;
      app.replaceChildren(
        el("p", {class: "crumbs"}, el("a", {href: "/", text: "Overview"}), " › segment"),
        el("h1", {text: d.segment}),
        el("div", {class: "cards"}, card("members now", "members", d.members), card("entered, ever", "entered", d.entered), card("exited, ever", "exited", d.exited)),
        section("Members over time", el("div", {class: "chart", id: "chart-members"})),
        section("Entries and exits", el("p", {class: "muted small", id: "period-note"}), el("div", {class: "chart", id: "chart-moves"})));
      charts.members = charts.moves = null;
    }
    document.getElementById("period-note").textContent = d.period === "1h" ? "Per minute." : d.period === "all" ? "Per hour, or per day past a week." : "Per hour.";
    for (const k of ["members", "entered", "exited"]) setNum(k, d[k]);
    chart("members", document.getElementById("chart-members"), d.chart, ["members"], ["#7c3aed"]);
    chart("moves", document.getElementById("chart-moves"), d.chart, ["entered", "exited"], ["#16a34a", "#dc2626"]);
  }

  // ---- one customer ----------------------------------------------------------------------------------
  function customer(d) {
    built = "customer";
    app.replaceChildren(
      el("p", {class: "crumbs"}, el("a", {href: "/", text: "Overview"}), " › customer"),
      el("h1", {text: d.customer_id}),
      el("div", {class: "cols"},
        section("Profile", el("pre", {class: "profile", text: JSON.stringify(d.profile, null, 2)})),
        section("Segments", d.segments.length ? el("ul", {}, ...d.segments.map((s) => el("li", {}, link(`/segments/${encodeURIComponent(s)}`, s)))) : el("p", {class: "muted", text: "In no segment."}))),
      section("Running instances", d.instances.length ? table("instances", ["journey", "step", "entered", "waiting until", "trigger", "group"], d.instances.map((i) => [
        link(`/journeys/${encodeURIComponent(i.journey)}`, i.journey), el("span", {text: `${i.step} (${i.kind})`}), el("span", {text: i.entered_at}),
        el("span", {text: i.waiting_until || "–"}), el("span", {text: i.trigger_message_id}), el("span", {text: i.holdout ? "holdout" : "messaged"})])) :
        el("p", {class: "muted", text: "In no journey now."})),
      section("Recent actions", d.actions.length ? table("actions", ["at", "journey", "step", "channel", "template", "status"].concat(d.deliveries_kept ? ["delivery"] : []), d.actions.map((a) => [
        el("span", {text: a.at}), link(`/journeys/${encodeURIComponent(a.journey)}`, a.journey), el("span", {text: a.step}), el("span", {text: a.channel}),
        el("span", {text: a.template}), el("span", {class: `status ${a.status}`, text: a.status})].concat(d.deliveries_kept ? [delivery(a)] : []))) :
        el("p", {class: "muted", text: "No action in the last 7 days of engine time."})),
      section("Trace of decisions", d.trace.length ? table("trace", ["at", "journey", "decision"], d.trace.map((t) => [
        el("span", {text: t.at}), el("span", {text: t.journey}), el("span", {text: t.decision})])) :
        el("p", {class: "muted", text: "Kept only for a customer a replay traced: journeyctl simulate --trace CUSTOMER --state URL."})),
      section("Journeys entered", Object.keys(d.entries).length ? table("entries", ["journey", "times", "last"], Object.entries(d.entries).map(([j, e]) => [
        el("span", {text: j}), num(`entries.${j}.count`, e.count), el("span", {text: e.last})])) : el("p", {class: "muted", text: "None."})));
  }

  // what deliver made of one action: delivered or failed (and when), recorded (not a send), or nothing yet
  function delivery(a) {
    const o = a.delivery ? a.delivery.outcome : (a.status === "send" ? "not yet" : "–");
    return el("span", {class: `delivery ${o.replace(" ", "-")}`, "data-delivery": a.action_id, text: a.delivery ? `${o} ${a.delivery.at}` : o});
  }

  // ---- polling -------------------------------------------------------------------------------------
  const RENDER = {overview, journey, segment, customer};
  const API = {overview: () => `/api/overview?period=${period}`,
    journey: () => `/api/journeys/${encodeURIComponent(ident)}?period=${period}` + (params.get("version") ? `&version=${encodeURIComponent(params.get("version"))}` : ""),
    segment: () => `/api/segments/${encodeURIComponent(ident)}?period=${period}`,
    customer: () => `/api/customers/${encodeURIComponent(ident)}`};
  const live = document.getElementById("live");
  let timer = null;
  async function refresh() {
    try {
      const d = await get(API[page]());
      RENDER[page](d);
      document.getElementById("clock").textContent = d.clock ? `clock ${d.clock.slice(0, 19).replace("T", " ")} UTC` : "";
      live.className = "ok"; live.title = `live: updated ${new Date().toLocaleTimeString()}`;
      document.body.dataset.updated = String(Date.now());
    } catch (e) {
      live.className = "down"; live.title = String(e.message || e);
      if (!built) app.replaceChildren(el("p", {class: "error", text: String(e.message || e)}));
    }
    timer = setTimeout(refresh, pollMs);
  }
  periodSel.addEventListener("change", () => {
    period = periodSel.value; localStorage.setItem("journeyctl.period", period);
    const u = new URL(location.href); u.searchParams.set("period", period); history.replaceState(null, "", u);
    built = null; clearTimeout(timer); refresh();
  });
  if (page === "customer") periodSel.hidden = true;
  refresh();
})();
