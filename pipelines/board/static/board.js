/* The board (看板): headline cards, open problems, the KPI tree, drill-downs, scorecards,
 * people and alerts, drawn as HTML and SVG from the JSON embedded in the page. Every string is
 * the catalogue's (catalogue.json, embedded beside the data), every number is written by
 * format.js from the rules of kpi_tree/formats.py. Our own code, no libraries: the page works
 * offline, and its tables download as CSV and as .xlsx written here (xlsx.js).
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("board-data").textContent);
  var CATALOGUE = JSON.parse(document.getElementById("board-catalogue").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var PERIODS = ["day", "month", "quarter", "year"];
  var DAY_TREND = 30;
  var PHONE = "(max-width: 640px)";

  var state = { lang: DATA.lang === "en" ? "en" : "zh", period: "month", selected: null,
                collapsed: {}, person: null, team: null };
  try {
    var saved = JSON.parse(window.localStorage.getItem("kpi-board") || "{}");
    if (saved.lang === "en" || saved.lang === "zh") state.lang = saved.lang;
    if (PERIODS.indexOf(saved.period) >= 0) state.period = saved.period;
  } catch (e) { /* storage unavailable (file:// in some browsers): keep the defaults */ }

  var nodesById = {}, children = {};
  DATA.nodes.forEach(function (n) {
    nodesById[n.id] = n;
    children[n.id] = [];
    if (n.parent) children[n.parent].push(n.id);
  });
  var teamsById = {};
  DATA.teams.forEach(function (tm) { teamsById[tm.id] = tm; });
  var ROOT = DATA.nodes[0];

  // ---- words and numbers -----------------------------------------------------------------
  function t(key, vars) {
    var table = CATALOGUE[state.lang];
    var text = table[key] !== undefined ? table[key] : key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return vars[name] !== undefined && vars[name] !== null ? String(vars[name]) : "";
      });
    }
    return text;
  }
  function label(obj) { return obj ? (state.lang === "zh" ? obj.zh : obj.en) : ""; }
  var formats = {};
  Object.keys(DATA.formats).forEach(function (lang) { formats[lang] = kpiFormats(DATA.formats[lang]); });
  var MISSING = DATA.formats.en.missing;
  function fmt(value, unit) { return formats[state.lang].value(value, unit); }
  function short(value, unit) { return formats[state.lang].compact(value, unit); }
  function pct(value) { return formats[state.lang].share(value); }
  function change(value) { return formats[state.lang].share(value, true); }
  function known(v) { return v !== null && v !== undefined; }
  function raw(v) { return known(v) ? String(v) : ""; }
  // a member of a dimension with a vocabulary (channel, carrier, ...) by its label; an agent or
  // a campaign, which have none, by its id
  function memberLabel(dim, member) {
    if (member === "(none)") return t("memberNone");  // rows with no member (orders of no campaign)
    var labels = (DATA.labels[dim] || {})[member];
    return labels ? labels[state.lang] : member;
  }
  function needsText(needs) { return needs ? label(needs) : ""; }
  function periodOf(node, period) { return node.periods[period || state.period] || {}; }
  function statusOf(st) { return st || "none"; }
  // better or worse, for a change: a lower-is-better KPI gets better as it falls
  function tone(node, value) {
    if (!known(value) || value === 0) return "flat";
    return (value > 0) === (node.direction !== "lower") ? "up" : "down";
  }

  // ---- elements ----------------------------------------------------------------------------
  function h(tag, attrs, kids) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, kids);
    return e;
  }
  function s(tag, attrs, kids) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, kids);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = v;
      else if (k === "onclick") {
        e.addEventListener("click", v);
        // a clickable card or row that is not a button opens with the keyboard too
        if (!/^(BUTTON|A)$/.test(e.tagName)) e.addEventListener("keydown", function (ev) {
          if (ev.target === e && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); v(ev); }
        });
      }
      else e.setAttribute(k, v);
    });
  }
  function append(e, kids) {
    if (kids === null || kids === undefined) return;
    if (!Array.isArray(kids)) kids = [kids];
    kids.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { append(e, c); return; }  // a group of kids, shown or not together
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
  }
  function clear(id) {
    var root = document.getElementById(id);
    root.textContent = "";
    return root;
  }
  function dot(st) { return h("span", { "class": "dot bg-" + statusOf(st), "aria-hidden": "true" }); }
  function statusChip(st) {
    return h("span", { "class": "chip s-" + statusOf(st), text: t(statusOf(st)) });
  }
  function persist() {
    try { window.localStorage.setItem("kpi-board", JSON.stringify({ lang: state.lang, period: state.period })); }
    catch (e) { /* ignore */ }
  }

  // ---- tables that download ----------------------------------------------------------------
  /* spec: {id, title, columns: [{label, type ("text" | a unit | "share"), value(row), cell(row)?,
   * cls}], rows}. The same spec draws the table and writes its CSV and .xlsx: what is
   * downloaded is the numbers, unrounded, under the headers shown. */
  function dataTable(spec) {
    var table = h("table", { "class": "data" + (spec.keep ? " keep" : ""), id: spec.id || null, "data-table": spec.name || spec.id || null });
    var head = h("tr", null, spec.columns.map(function (c) {
      return h("th", { scope: "col", "class": c.type === "text" ? "txt" : "num", text: c.label });
    }));
    append(table, h("thead", null, head));
    var body = h("tbody");
    spec.rows.forEach(function (row) {
      var tr = h("tr", spec.rowAttrs ? spec.rowAttrs(row) : null);
      spec.columns.forEach(function (c) {
        var content = c.cell ? c.cell(row) : cellText(c, c.value(row));
        append(tr, h("td", { "class": (c.type === "text" ? "txt" : "num") + (c.cls ? " " + c.cls : ""),
          "data-label": c.label }, h("span", { "class": "v" }, content)));
      });
      append(body, tr);
    });
    append(table, body);
    var tools = h("div", { "class": "table-tools" }, [
      spec.title && !spec.untitled ? h("h3", { "class": "table-title", text: spec.title }) : h("span"),
      h("span", { "class": "exports" }, [
        h("button", { type: "button", "class": "export", "data-format": "csv", title: t("exportCsv"),
          text: "CSV", onclick: function () { download(spec, "csv"); } }),
        h("button", { type: "button", "class": "export", "data-format": "xlsx", title: t("exportXlsx"),
          text: "Excel", onclick: function () { download(spec, "xlsx"); } })
      ])
    ]);
    return h("div", { "class": "table-block" }, [tools, h("div", { "class": "table-scroll" }, table)]);
  }
  function cellText(column, value) {
    if (column.type === "text") return known(value) ? String(value) : MISSING;
    if (column.type === "share") return pct(value);
    return fmt(value, column.type);
  }
  function fileName(spec, ext) {
    var stem = (spec.file || spec.title || spec.id || "table").replace(/[\\/:*?"<>|\s]+/g, "_");
    return "kpi_" + stem + "_" + DATA.as_of + "." + ext;
  }
  function download(spec, format) {
    var headers = spec.columns.map(function (c) { return c.label; });
    var rows = spec.rows.map(function (row) {
      return spec.columns.map(function (c) {
        var v = c.value(row);
        return c.type === "text" ? (known(v) ? String(v) : null) : (typeof v === "number" && isFinite(v) ? v : null);
      });
    });
    var blob;
    if (format === "csv") {
      blob = new Blob([toCsv(headers, rows)], { type: "text/csv;charset=utf-8" });
    } else {
      var kinds = spec.columns.map(function (c) { return c.type; });
      blob = new Blob([kpiXlsx(headers, rows, kinds, (spec.title || "KPI").slice(0, 31))],
        { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
    }
    var a = h("a", { href: URL.createObjectURL(blob), download: fileName(spec, format) });
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  }
  // RFC 4180, with a byte-order mark so that Excel reads the Chinese as UTF-8
  function toCsv(headers, rows) {
    function cell(v) {
      if (v === null || v === undefined) return "";
      var text = String(v);
      return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    }
    return "\ufeff" + [headers].concat(rows).map(function (r) { return r.map(cell).join(","); }).join("\r\n") + "\r\n";
  }

  // ---- header ------------------------------------------------------------------------------
  // the drill-down panel opens below the header, which stays at the top on a wide screen
  function headerHeight() {
    document.documentElement.style.setProperty("--header-h", document.getElementById("header").offsetHeight + "px");
  }
  window.addEventListener("resize", headerHeight);
  function renderHeader() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title") + " · " + DATA.as_of;
    var root = clear("header");
    var seg = h("div", { "class": "seg", role: "group", "aria-label": t("period") }, PERIODS.map(function (p) {
      return h("button", {
        type: "button", "data-period": p, "aria-pressed": String(state.period === p), title: t(p),
        text: t(p + "Short"), onclick: function () { state.period = p; persist(); render(); }
      });
    }));
    append(root, [
      h("div", { "class": "brand" }, [
        h("h1", { id: "title", text: t("title") }),
        h("span", { id: "as-of", "class": "muted", text: t("asOf", { day: DATA.as_of }) })
      ]),
      h("div", { "class": "controls" }, [
        seg,
        searchBox(),
        h("button", { type: "button", id: "print", "class": "tool", text: t("print"),
          onclick: function () { window.print(); } }),
        h("button", { type: "button", id: "lang-toggle", "class": "tool", lang: state.lang === "zh" ? "en" : "zh",
          text: t("lang"), onclick: function () { state.lang = state.lang === "en" ? "zh" : "en"; persist(); render(); } })
      ])
    ]);
  }

  // ---- search ------------------------------------------------------------------------------
  function searchIndex() {
    var out = [];
    DATA.nodes.forEach(function (n) {
      out.push({ kind: "kpi", id: n.id, text: label(n), also: [n.en, n.zh, n.id],
        go: function () { select(n.id, true); } });
    });
    DATA.teams.forEach(function (tm) {
      out.push({ kind: "team", id: tm.id, text: label(tm), also: [tm.en, tm.zh, tm.id],
        go: function () { location.hash = "team=" + encodeURIComponent(tm.id); } });
    });
    var seen = {};
    DATA.people.forEach(function (p) {
      if (seen[p.person]) return;
      seen[p.person] = true;
      var shown = memberLabel(p.dimension, p.person);
      out.push({ kind: "person", id: p.person, text: shown, also: [shown, p.person],
        go: function () { location.hash = "person=" + encodeURIComponent(p.person); } });
    });
    return out;
  }
  function searchBox() {
    var input = h("input", { id: "search", type: "search", autocomplete: "off", placeholder: t("search"),
      "aria-label": t("search"), "aria-controls": "search-results" });
    var list = h("ul", { id: "search-results", role: "listbox", hidden: "hidden" });
    function matches(query) {
      var q = query.trim().toLowerCase();
      if (!q) return [];
      return searchIndex().filter(function (item) {
        return item.also.some(function (a) { return a && String(a).toLowerCase().indexOf(q) >= 0; });
      }).slice(0, 12);
    }
    function show() {
      var found = matches(input.value);
      list.textContent = "";
      if (!input.value.trim()) { list.hidden = true; return; }
      if (!found.length) append(list, h("li", { "class": "muted", text: t("searchNone") }));
      found.forEach(function (item) {
        append(list, h("li", { role: "option", "data-kind": item.kind, "data-id": item.id, tabindex: "-1" }, [
          h("span", { "class": "kind", text: t("kind_" + item.kind) }), " ", item.text
        ]));
      });
      list.hidden = false;
    }
    function go(item) { list.hidden = true; input.blur(); item.go(); }
    input.addEventListener("input", show);
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        // not also a press of the drill-down's close button, which takes the focus
        ev.preventDefault();
        var first = matches(input.value)[0];
        if (first) go(first);
      }
      if (ev.key === "Escape") { input.value = ""; list.hidden = true; }
    });
    list.addEventListener("mousedown", function (ev) {
      var li = ev.target.closest("li[data-id]");
      if (!li) return;
      ev.preventDefault();
      var item = matches(input.value).filter(function (m) { return m.kind === li.dataset.kind && m.id === li.dataset.id; })[0];
      if (item) go(item);
    });
    input.addEventListener("blur", function () { setTimeout(function () { list.hidden = true; }, 150); });
    return h("div", { "class": "search", role: "search" }, [input, list]);
  }

  // ---- headline cards, teams, open problems --------------------------------------------------
  function sparkline(node, w, hgt) {
    var pts = node.daily.slice(-DAY_TREND).filter(function (d) { return known(d[1]); });
    if (pts.length < 2) return null;
    var vals = pts.map(function (d) { return d[1]; });
    pts.forEach(function (d) { if (known(d[5])) vals.push(d[5]); });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi === lo) hi = lo + 1;
    function px(i) { return (i * w) / (pts.length - 1); }
    function py(v) { return 1 + (hgt - 2) - ((v - lo) / (hi - lo)) * (hgt - 2); }
    var svg = s("svg", { "class": "sparkline", viewBox: "0 0 " + w + " " + hgt, width: w, height: hgt,
      preserveAspectRatio: "none", "aria-hidden": "true" });
    if (pts.every(function (d) { return known(d[5]); })) {
      append(svg, s("polyline", { "class": "spark-target",
        points: pts.map(function (d, i) { return px(i).toFixed(1) + "," + py(d[5]).toFixed(1); }).join(" ") }));
    }
    append(svg, s("polyline", { "class": "spark",
      points: pts.map(function (d, i) { return px(i).toFixed(1) + "," + py(d[1]).toFixed(1); }).join(" ") }));
    return svg;
  }
  function delta(node, which, v) {
    var cmp = (v.compare || {})[which];
    var value = cmp ? cmp.value : null;
    var ch = cmp ? cmp.change : null;
    var title = cmp ? t("comparedWith", { start: cmp.start, end: cmp.end, value: fmt(value, node.unit) }) : t("noComparison");
    return h("span", { "class": "delta " + tone(node, ch), "data-compare": which, "data-value": raw(ch), title: title }, [
      h("span", { "class": "delta-label", text: t(which === "previous" && state.period === "day" ? "previousDay" : which) }),
      " ", h("span", { "class": "delta-value", text: known(ch) ? change(ch) : MISSING })
    ]);
  }
  function needLine(node, v) {
    var c = v.catch_up || (state.period === "day" ? periodOf(node, "month").catch_up : null);
    if (!c || !known(c.needed)) return null;
    if (c.needed <= 0) return h("div", { "class": "need made", text: t("targetMade") });
    return h("div", { "class": "need", "data-per-day": raw(c.per_day) }, t("needPerDay", {
      days: c.days_left, amount: short(c.per_day, node.unit),
      factor: known(c.factor) ? fmt(c.factor, "multiple") : MISSING
    }));
  }
  // a source missing on some of the period's days: the day is unknown, the period is over the
  // other days; said in full (gapText) and marked with the days missing (gapBadge)
  function gapText(v) {
    if (!v || !v.missing_days) return null;
    var sources = sourceNames(v.gap_sources);
    return state.period === "day" ? t("unknownDay", { sources: sources })
      : t("incomplete", { n: v.missing_days, sources: sources });
  }
  // gap_sources holds the sources' ids, comma-separated: each by its name in the board's language
  function sourceNames(ids) {
    return (ids || "").split(",").filter(Boolean).map(function (id) {
      var names = (DATA.source_labels || {})[id];
      return names ? names[state.lang] : id;
    }).join(state.lang === "zh" ? "、" : ", ");
  }
  function gapBadge(v) {
    var text = gapText(v);
    if (!text) return null;
    return h("span", { "class": "badge gap-mark", "data-missing-days": String(v.missing_days), title: text,
      text: "⚠" + (state.period === "day" ? "" : " " + v.missing_days) });
  }
  function kpiCard(node) {
    var v = periodOf(node);
    var st = statusOf(v.status);
    var att = v.attainment;
    var body;
    if (!node.available) {
      body = [h("div", { "class": "big muted", text: t("notAvailable") }), h("div", { "class": "need", text: needsText(node.needs) })];
    } else {
      body = [
        h("div", { "class": "big card-value", "data-value": raw(v.actual), title: fmt(v.actual, node.unit) }, [
          short(v.actual, node.unit), v.provisional ? h("span", { "class": "prov-mark", title: t("provisional"), text: " ≈" }) : null
        ]),
        h("div", { "class": "vs" }, known(v.paced_target) ? [
          t("pacedShort") + " " + short(v.paced_target, node.unit) + " · ",
          h("span", { "class": "s-" + st, "data-value": raw(att), text: pct(att) })
        ] : t("none")),
        known(att) ? h("div", { "class": "meter", "aria-hidden": "true" },
          h("span", { "class": "bg-" + st, style: "width:" + Math.min(100, Math.max(0, att * 100 / 1.2)).toFixed(1) + "%" })) : null,
        gapText(v) ? h("div", { "class": "need gap-note", "data-missing-days": String(v.missing_days), text: gapText(v) }) : null,
        h("div", { "class": "deltas" }, [state.period !== "year" ? delta(node, "previous", v) : null, delta(node, "last_year", v)]),
        needLine(node, v)
      ];
    }
    return h("article", { "class": "kpi-card", "data-kpi": node.id, tabindex: "0", role: "button",
      "aria-label": label(node), onclick: function () { select(node.id, true); } }, [
      h("div", { "class": "card-head" }, [h("h2", { text: label(node) }), node.available ? statusChip(v.status) : null]),
      h("div", { "class": "card-body" }, [h("div", { "class": "card-main" }, body), node.available ? sparkline(node, 96, 34) : null])
    ]);
  }
  function renderSummary() {
    document.getElementById("summary").setAttribute("aria-label", t("summary"));
    var head = clear("headline");
    (DATA.headline || []).forEach(function (id) { if (nodesById[id]) append(head, kpiCard(nodesById[id])); });
    var strip = clear("team-strip");
    DATA.teams.forEach(function (team) {
      var sc = team.scorecard[state.period];
      var flag = team.held_back ? h("span", { "class": "flag held", text: t("held_back") })
        : team.skipped ? h("span", { "class": "flag", text: t("skippedShort") }) : null;
      append(strip, h("a", { "class": "team-tile", href: "#team=" + encodeURIComponent(team.id), "data-team": team.id,
        "data-score": raw(sc.score) }, [
        h("span", { "class": "team-name", text: label(team) }),
        h("span", { "class": "team-score s-" + statusOf(sc.status), title: t("score"), text: pct(sc.score) }),
        flag
      ]));
    });
    renderProblems();
  }
  function renderProblems() {
    var root = document.getElementById("problems");
    var rows = (DATA.problems[state.period] || []);
    var held = DATA.teams.filter(function (tm) { return tm.held_back; });
    var count = rows.length + held.length;
    root.querySelector("summary").textContent = "";
    append(root.querySelector("summary"), [h("span", { text: t("problems") }), h("span", { "class": "count", text: String(count) })]);
    var list = root.querySelector(".list");
    list.textContent = "";
    held.forEach(function (team) {
      append(list, h("li", { "class": "problem held", "data-team": team.id }, [
        dot("short"),
        h("span", { "class": "p-name" }, [
          h("a", { href: "#team=" + encodeURIComponent(team.id), text: t("heldBackProblem", { team: label(team), day: team.held_back_day }) }),
          h("span", { "class": "p-sub" }, [t("failedChecks", { n: team.failed_checks.length }),
            team.report ? [" · ", h("a", { "class": "report", href: team.report, text: t("report") })] : null])
        ]),
        h("span")
      ]));
    });
    rows.forEach(function (p) {
      var node = nodesById[p.kpi];
      append(list, h("li", { "class": "problem", "data-kpi": p.kpi, "data-status": p.status, "data-alerted": String(p.alerted),
        tabindex: "0", onclick: function () { select(p.kpi, true); } }, [
        dot(p.status),
        h("span", { "class": "p-name" }, [
          label(node), p.provisional ? h("span", { "class": "prov-mark", title: t("provisional"), text: " ≈" }) : null,
          h("span", { "class": "p-sub" }, [label(teamsById[p.team]) + " · ",
            h("span", { "class": "p-alert" + (p.alerted ? " alerted" : ""), text: t(p.alerted ? "alerted" : "notAlerted") })])
        ]),
        h("span", { "class": "p-att s-" + p.status, "data-value": raw(p.attainment), text: pct(p.attainment) })
      ]));
    });
    if (!count) append(list, h("li", { "class": "muted", text: t("problemsNone") }));
  }

  // ---- the tree ------------------------------------------------------------------------------
  var RELATION = { product: "×", sum: "+", driver: "⇢" };
  function hiddenByCollapse(node) {
    var p = node.parent;
    while (p) { if (state.collapsed[p]) return true; p = nodesById[p].parent; }
    return false;
  }
  function treeRow(n) {
    var v = periodOf(n);
    var st = statusOf(v.status);
    var kids = children[n.id].length;
    var open = !state.collapsed[n.id];
    var twisty = kids ? h("button", { type: "button", "class": "twisty", "aria-label": t(open ? "collapse" : "expand"),
      "aria-expanded": String(open), text: open ? "▾" : "▸",
      onclick: function (ev) { ev.stopPropagation(); state.collapsed[n.id] = open; renderTree(); } })
      : h("span", { "class": "twisty none", "aria-hidden": "true" });
    var name = h("div", { "class": "cell name-cell" }, [
      twisty,
      n.relation ? h("span", { "class": "rel rel-" + n.relation, title: t("rel_" + n.relation), text: RELATION[n.relation] }) : null,
      h("span", { "class": "name", text: label(n) }),
      h("span", { "class": "team-chip", text: label(teamsById[n.team]) }),
      v.provisional ? h("span", { "class": "badge", title: t("provisional"), text: "≈" }) : null,
      gapBadge(v)
    ]);
    var cells;
    if (!n.available) {
      cells = [
        h("div", { "class": "cell node-value", "data-value": "", text: t("notAvailable") }),
        h("div", { "class": "cell node-needs wide", "data-needs": needsText(n.needs), text: needsText(n.needs) })
      ];
    } else {
      var cmp = v.compare || {};
      cells = [
        h("div", { "class": "cell node-value", "data-value": raw(v.actual), title: fmt(v.actual, n.unit), text: short(v.actual, n.unit) }),
        h("div", { "class": "cell node-target", "data-value": raw(v.paced_target) },
          n.held_back && n.as_of === null ? t("held_back")
            : known(v.paced_target) ? [h("span", { "class": "phone-only", text: t("pacedShort") + " " }), short(v.paced_target, n.unit)]
            : h("span", { "class": "muted", text: t("none") })),
        h("div", { "class": "cell node-attainment s-" + st, "data-value": raw(v.attainment), text: known(v.attainment) ? pct(v.attainment) : "" }),
        h("div", { "class": "cell node-prev delta " + tone(n, (cmp.previous || {}).change), "data-value": raw((cmp.previous || {}).change),
          text: state.period === "year" ? "" : known((cmp.previous || {}).change) ? change(cmp.previous.change) : MISSING }),
        h("div", { "class": "cell node-yoy delta " + tone(n, (cmp.last_year || {}).change), "data-value": raw((cmp.last_year || {}).change),
          text: known((cmp.last_year || {}).change) ? change(cmp.last_year.change) : MISSING }),
        h("div", { "class": "cell spark-cell" }, sparkline(n, 72, 18))
      ];
    }
    var row = h("div", {
      "class": "node st-" + st + (n.available ? "" : " unavailable") + (n.stale ? " stale" : "") +
        (state.selected === n.id ? " selected" : ""),
      role: "treeitem", "aria-level": String(n.depth + 1), "aria-expanded": kids ? String(open) : null,
      "aria-selected": String(state.selected === n.id), tabindex: "0", "data-kpi": n.id, "data-depth": String(n.depth),
      style: "--depth:" + n.depth,
      title: n.available ? label(n) + " · " + label(teamsById[n.team]) : label(n) + " — " + needsText(n.needs)
    }, [name].concat(cells));
    row.addEventListener("click", function () { select(n.id); });
    row.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(n.id); }
      if (ev.key === "ArrowLeft" && kids && open) { state.collapsed[n.id] = true; renderTree(); }
      if (ev.key === "ArrowRight" && kids && !open) { state.collapsed[n.id] = false; renderTree(); }
    });
    return row;
  }
  function renderTree() {
    document.getElementById("tree-title").textContent = t("tree");
    document.getElementById("tree-hint").textContent = t("treeHint");
    var tools = clear("tree-tools");
    append(tools, [
      h("button", { type: "button", "class": "tool", id: "expand-all", text: t("expandAll"),
        onclick: function () { state.collapsed = {}; renderTree(); } }),
      h("button", { type: "button", "class": "tool", id: "collapse-all", text: t("collapseAll"),
        onclick: function () {
          DATA.nodes.forEach(function (n) { if (n.depth >= 1 && children[n.id].length) state.collapsed[n.id] = true; });
          renderTree();
        } })
    ]);
    var head = clear("tree-head");
    append(head, [
      h("div", { "class": "cell name-cell", text: t("colKpi") }),
      h("div", { "class": "cell", text: t("actual") }),
      h("div", { "class": "cell", text: t("paced") }),
      h("div", { "class": "cell", text: t("attainment") }),
      h("div", { "class": "cell", text: state.period === "day" ? t("previousDay") : t("previous") }),
      h("div", { "class": "cell", text: t("last_year") }),
      h("div", { "class": "cell", text: t("trend") })
    ]);
    var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".node") : null;
    var focusId = focused ? focused.getAttribute("data-kpi") : null;
    var root = clear("tree");
    DATA.nodes.forEach(function (n) { if (!hiddenByCollapse(n)) append(root, treeRow(n)); });
    if (focusId) { var again = root.querySelector('.node[data-kpi="' + focusId + '"]'); if (again) again.focus(); }
    var legend = clear("legend");
    append(legend, [
      legendSwatch("on_track"), legendSwatch("at_risk"), legendSwatch("short"), legendSwatch("not_judged"), legendSwatch("none"),
      h("span", null, [h("b", { text: "× " }), t("rel_product")]),
      h("span", null, [h("b", { text: "+ " }), t("rel_sum")]),
      h("span", null, [h("b", { text: "⇢ " }), t("rel_driver")]),
      h("span", null, [h("span", { "class": "prov-mark", text: "≈ " }), t("provisional")]),
      h("span", null, [h("span", { "class": "sw stale-sw" }), t("stale")]),
      h("span", null, [h("span", { "class": "sw unavailable-sw" }), t("unavailable")])
    ]);
  }
  function legendSwatch(st) { return h("span", null, [h("span", { "class": "sw bg-" + st }), t(st)]); }

  // ---- drill-down ----------------------------------------------------------------------------
  function select(id, reveal) {
    state.selected = id;
    if (id && reveal) {
      // open the branches above it, so that its row is there to see
      var p = nodesById[id].parent;
      while (p) { state.collapsed[p] = false; p = nodesById[p].parent; }
    }
    renderTree();
    renderDetail();
    if (id) {
      var panel = document.getElementById("detail");
      panel.scrollTop = 0;
      var close = document.getElementById("detail-close");
      if (close) close.focus({ preventScroll: true });
    }
  }

  function periodDays(node) {
    var v = periodOf(node);
    if (state.period === "day" || !v.start) return node.daily.slice(-DAY_TREND);
    return node.daily.filter(function (d) { return d[0] >= v.start && d[0] <= (node.as_of || d[0]); });
  }
  function cumulativeSeries(node) {
    var grain = state.period === "day" ? "month" : state.period;
    var stored = node.cumulative[grain];
    if (stored && stored.length) {
      return { actual: stored.map(function (r) { return [r[0], r[1]]; }),
               target: stored.map(function (r) { return [r[0], r[2]]; }) };
    }
    if (node.kind === "quantile") return null;
    var start = (node.periods[grain] || {}).start;
    var n = 0, d = 0, out = [];
    node.daily.forEach(function (r) {
      if (!start || r[0] < start) return;
      n += r[2] || 0; d += r[3] || 0;
      out.push([r[0], node.kind === "sum" ? n : (d ? node.scale * n / d : null)]);
    });
    return { actual: out, target: [] };
  }
  function lineChart(cls, series, unit, provisional) {
    var W = 480, H = 170, L = 58, R = 10, T = 10, B = 22;
    var all = [], dates = [];
    series.forEach(function (se) { se.points.forEach(function (p) {
      if (known(p[1])) all.push(p[1]);
      if (dates.indexOf(p[0]) < 0) dates.push(p[0]);
    }); });
    dates.sort();
    var svg = s("svg", { "class": "chart " + cls, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": series.map(function (x) { return x.name; }).join(", ") });
    if (!all.length) {
      append(svg, s("text", { "class": "tick", x: W / 2, y: H / 2, "text-anchor": "middle", text: t("noData") }));
      return svg;
    }
    var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
    if (lo > 0 && lo / (hi || 1) < 0.6) lo = 0;
    if (hi === lo) { hi = hi + (Math.abs(hi) || 1) * 0.05; lo = lo - (Math.abs(lo) || 1) * 0.05; }
    var idx = {};
    dates.forEach(function (d, i) { idx[d] = i; });
    function px(d) { return L + (dates.length === 1 ? (W - L - R) / 2 : (idx[d] * (W - L - R)) / (dates.length - 1)); }
    function py(v) { return T + (H - T - B) - ((v - lo) / (hi - lo)) * (H - T - B); }
    append(svg, [
      s("line", { "class": "axis", x1: L, y1: T, x2: L, y2: H - B }),
      s("line", { "class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B })
    ]);
    [lo, (lo + hi) / 2, hi].forEach(function (v) {
      append(svg, s("text", { "class": "tick", x: L - 4, y: py(v) + 3, "text-anchor": "end", text: short(v, unit) }));
    });
    append(svg, [
      s("text", { "class": "tick", x: L, y: H - 6, text: dates[0] }),
      s("text", { "class": "tick", x: W - R, y: H - 6, "text-anchor": "end", text: dates[dates.length - 1] })
    ]);
    series.forEach(function (se) {
      var pts = se.points.filter(function (p) { return known(p[1]) && idx[p[0]] !== undefined; });
      if (!pts.length) return;
      var d = pts.map(function (p, i) { return (i ? "L" : "M") + px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1); }).join(" ");
      append(svg, s("path", { "class": se.cls, d: d }, s("title", { text: se.name })));
      if (pts.length === 1) append(svg, s("circle", { "class": se.cls, cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3 }));
    });
    (provisional || []).forEach(function (p) {
      if (!known(p[1]) || idx[p[0]] === undefined) return;
      append(svg, s("circle", { "class": "prov", cx: px(p[0]), cy: py(p[1]), r: 3 }, s("title", { text: p[0] + " " + t("provisionalShort") })));
    });
    return svg;
  }
  function chartLegend(a, b) {
    return h("div", { "class": "legend" }, [
      h("span", null, [h("span", { "class": "line actual" }), a]),
      b ? h("span", null, [h("span", { "class": "line target" }), b]) : null,
      h("span", null, [h("span", { "class": "prov-mark", text: "○ " }), t("provisionalShort")])
    ]);
  }
  function kv(rows) {
    var dl = h("dl", { "class": "kv" });
    rows.forEach(function (r) { if (r) append(dl, [h("dt", { text: r[0] }), h("dd", { "data-key": r[2] || null }, r[1])]); });
    return dl;
  }
  function comparisonRow(node, which, v) {
    var cmp = (v.compare || {})[which];
    if (which === "previous" && state.period === "year") return null;
    var name = t(which === "previous" && state.period === "day" ? "previousDay" : which);
    if (!cmp) return [name, MISSING, which];
    var dates = cmp.start + (cmp.end !== cmp.start ? " … " + cmp.end : "");
    if (!known(cmp.value)) return [name, h("span", { "class": "muted", text: t("noDataFor", { dates: dates }) }), which];
    return [name, [
      h("span", { "class": "delta " + tone(node, cmp.change), text: known(cmp.change) ? change(cmp.change) : MISSING }),
      h("span", { "class": "muted", text: " (" + fmt(cmp.value, node.unit) + ", " + dates + ")" })
    ], which];
  }
  function catchUpBlock(node, v) {
    var period = state.period === "day" ? "month" : state.period;
    var c = state.period === "day" ? periodOf(node, "month").catch_up : v.catch_up;
    if (!c) return null;
    var out = h("div", { "class": "catch-up" }, h("h4", { text: t("catchUp") + (state.period === "day" ? " · " + t("month") : "") }));
    if (known(c.needed)) {
      if (c.needed <= 0) {
        append(out, h("p", { "class": "need made", id: "catch-up-made", text: t("targetMade") }));
      } else {
        append(out, h("p", { "class": "need", id: "catch-up-summary" }, t("catchUpSummary", {
          days: c.days_left, needed: fmt(c.needed, node.unit), perDay: fmt(c.per_day, node.unit),
          planned: fmt(c.planned, node.unit), factor: known(c.factor) ? fmt(c.factor, "multiple") : MISSING
        })));
        append(out, h("details", { "class": "catch-up-days" }, [
          h("summary", { text: t("catchUpDays", { days: c.days_left }) }),
          dataTable({
            id: "catch-up-table", name: "catch-up", title: label(node) + " · " + t("catchUp"), file: node.id + "_catch_up_" + period,
            columns: [
              { label: t("date"), type: "text", value: function (r) { return r[0]; } },
              { label: t("needed"), type: node.unit, value: function (r) { return r[1]; } },
              { label: t("planned"), type: node.unit, value: function (r) { return r[2]; } }
            ],
            rows: c.days
          })
        ]));
      }
    }
    if (c.drivers && c.drivers.length) {
      append(out, dataTable({
        id: "drivers-table", name: "drivers", title: t("driversTitle"), file: node.id + "_drivers_" + period,
        columns: [
          { label: t("heldAtRunRate"), type: "text", value: function (d) { return driverList(d.held, null); } },
          { label: t("mustReach"), type: "text", value: function (d) { return driverList(d.required, d.factor); } }
        ],
        rows: c.drivers
      }));
    }
    return out;
  }
  function driverList(values, factors) {
    return Object.keys(values).map(function (k) {
      var node = nodesById[k];
      var text = label(node) + " " + fmt(values[k], node.unit);
      if (factors && known(factors[k])) text += " (" + t("timesPlan", { factor: fmt(factors[k], "multiple") }) + ")";
      if (factors && node.unit === "ratio" && values[k] > 1) text += " — " + t("impossible");
      return text;
    }).join("; ");
  }
  function breakdownTables(node) {
    var dims = node.breakdown[state.period] || {};
    var names = node.dimensions.filter(function (d) { return dims[d]; });
    if (!names.length) return [h("p", { "class": "muted", text: t("dimensionNone") })];
    return names.map(function (dim) {
      var members = dims[dim];
      var unitRows = {};
      DATA.units.forEach(function (u) {
        if (u.kpi === node.id && u.dimension === dim && u.period === state.period) unitRows[u.member] = u;
      });
      var total = node.kind === "sum" ? members.reduce(function (a, m) { return a + (m[1] || 0); }, 0) : null;
      // a member judged on its expected final value is marked ≈, what has arrived beside it
      var expected = members.some(function (m) { return known(m[4]); });
      var columns = [
        { label: t(dim), type: "text", cls: "member", value: function (m) { return memberLabel(dim, m[0]); } },
        { label: label(node), type: node.unit, cls: "value", value: function (m) { return m[1]; },
          cell: function (m) {
            return known(m[4]) ? [fmt(m[1], node.unit), h("span", { "class": "prov-mark", title: t("provisional"), text: " ≈" })]
              : fmt(m[1], node.unit);
          } }
      ];
      if (expected) {
        columns.push({ label: t("observedShort"), type: node.unit, cls: "observed", value: function (m) { return m[4]; },
          cell: function (m) {
            return m[4] === 0 ? h("span", { "class": "muted", text: t("noneYet") }) : fmt(m[4], node.unit);
          } });
      }
      if (node.parts) {
        // the volumes behind the rate: what it is made of, per member
        ["numerator", "denominator"].forEach(function (role, i) {
          var part = node.parts[role];
          columns.push({ label: label(part), type: part.unit, cls: "volume", value: function (m) { return m[2 + i]; } });
        });
      }
      if (total) columns.push({ label: t("share"), type: "share", value: function (m) { return total ? (m[1] || 0) / total : null; } });
      if (Object.keys(unitRows).length) {
        columns.push({ label: t("paced"), type: node.unit, value: function (m) { return (unitRows[m[0]] || {}).paced_target; } });
        columns.push({ label: t("attainment"), type: "share", value: function (m) { return (unitRows[m[0]] || {}).attainment; },
          cell: function (m) { var u = unitRows[m[0]]; return u ? [dot(u.status), pct(u.attainment)] : MISSING; } });
      }
      var block = dataTable({ name: "breakdown", title: t(dim), file: node.id + "_" + dim + "_" + state.period, columns: columns, rows: members,
        rowAttrs: function (m) { return { "data-member": m[0] }; } });
      block.querySelector("table").setAttribute("data-dimension", dim);
      block.querySelector("table").classList.add("breakdown");
      return block;
    });
  }
  function renderDetail() {
    var root = clear("detail");
    var node = state.selected ? nodesById[state.selected] : null;
    document.body.classList.toggle("detail-open", !!node);
    root.hidden = !node;
    if (!node) return;
    var v = periodOf(node);
    var team = teamsById[node.team];
    append(root, h("div", { "class": "detail-head" }, [
      h("div", null, [
        h("h2", { id: "detail-title", text: label(node) }),
        h("div", { "class": "owner muted", text: t("owner") + ": " + label(team) + " · " + t(state.period) + " · " +
          (v.start || "") + (v.end && v.end !== v.start ? " … " + v.end : "") })
      ]),
      h("button", { type: "button", "class": "close", id: "detail-close", title: t("close"), "aria-label": t("close"),
        text: "×", onclick: function () { select(null); } })
    ]));
    var body = h("div", { "class": "detail-body" });
    append(root, body);
    if (node.stale) append(body, h("div", { "class": "notice", text: t("stale") + " (" + (node.as_of || t("never")) + ")" }));
    if (!node.available) {
      append(body, h("div", { "class": "notice info", id: "detail-needs", text: t("notAvailable") + ": " + needsText(node.needs) }));
      return;
    }
    if (gapText(v)) append(body, h("div", { "class": "notice info gap-note", id: "detail-gap", text: gapText(v) }));
    var rows = [[t("actual"), fmt(v.actual, node.unit) + (v.provisional ? " ≈" : ""), "actual"]];
    // a provisional value is the expected final one; what has arrived so far, beside it
    // none arrived is not a value of 0: the day's outcomes have not come in yet
    if (known(v.observed)) rows.push([t("observed"), v.observed === 0
      ? h("span", { "class": "muted", text: t("noneYet") }) : fmt(v.observed, node.unit), "observed"]);
    if (known(v.paced_target)) {
      rows.push([t("paced"), fmt(v.paced_target, node.unit), "paced"]);
      if (state.period !== "day") rows.push([t("target"), fmt(v.target, node.unit), "target"]);
      rows.push([t("attainment"), h("span", { "class": "s-" + statusOf(v.status), text: pct(v.attainment) }), "attainment"]);
      rows.push([t("status"), statusChip(v.status), "status"]);
      if (known(v.projected)) rows.push([t("projected"), fmt(v.projected, node.unit) + " (" + pct(v.projected_attainment) + ")", "projected"]);
      if (known(v.days_left)) rows.push([t("daysLeft"), String(v.days_left), "days-left"]);
    } else {
      rows.push([t("status"), statusChip(null), "status"]);
    }
    rows.push(comparisonRow(node, "previous", v));
    rows.push(comparisonRow(node, "last_year", v));
    append(body, kv(rows));
    append(body, catchUpBlock(node, v));

    var days = periodDays(node);
    var actual = days.map(function (d) { return [d[0], d[1]]; });
    var target = days.filter(function (d) { return known(d[5]); }).map(function (d) { return [d[0], d[5]]; });
    var prov = days.filter(function (d) { return d[4]; }).map(function (d) { return [d[0], d[1]]; });
    append(body, [
      h("h4", { text: t("dailyTrend") }),
      lineChart("trend-daily", [
        { name: t("target"), cls: "series-target", points: target },
        { name: t("actual"), cls: "series-actual", points: actual }
      ], node.unit, prov),
      chartLegend(t("actual"), target.length ? t("target") : null)
    ]);
    var cum = cumulativeSeries(node);
    append(body, h("h4", { text: t("cumulative") }));
    if (cum) {
      append(body, [
        lineChart("trend-cumulative", [
          { name: t("paced"), cls: "series-target", points: cum.target },
          { name: t("actual"), cls: "series-actual", points: cum.actual }
        ], node.unit, []),
        chartLegend(t("actual"), cum.target.length ? t("paced") : null)
      ]);
    } else {
      append(body, h("p", { "class": "muted", text: t("noCumulative") }));
    }
    append(body, h("h4", { text: t("breakdown") }));
    // a provisional period's members are judged on their expected final values (≈), what has
    // arrived beside them; a carrier's slice has no expected value at all (an order has no
    // carrier until it ships) and shows what has arrived, and the page says so
    if (v.provisional) {
      append(body, h("p", { "class": "muted", id: "breakdown-observed", text: t("breakdownObserved") +
        (node.dimensions.indexOf("carrier") >= 0 ? " " + t("carrierNoExpected") : "") }));
    }
    append(body, breakdownTables(node));
  }

  // ---- alerts ----------------------------------------------------------------------------------
  function scopeLabel(a) {
    if (!a.scope || a.scope === "all") return "";
    var member = a.dimension ? memberLabel(a.dimension, a.member) : a.scope.split(":").slice(1).join(":");
    return " · " + member;
  }
  // an alert in the page's words: what it is about, from its fields
  function alertTitle(a) {
    var node = a.kpi_id ? nodesById[a.kpi_id] : null;
    var team = teamsById[a.team];
    var vars = { kpi: node ? label(node) : a.kpi_id, scope: scopeLabel(a), day: a.day || DATA.alerts.day,
      team: team ? label(team) : a.team, period: a.period_grain ? t(a.period_grain) : "",
      status: t(a.status || a.kind), attainment: pct(a.attainment), shortfall: pct(a.shortfall) };
    var key = { short: "alertPace", at_risk: "alertPace", recovered: "alertRecovered", "break": "alertBreak", held_back: "alertHeldBack" }[a.kind];
    return t(key || "alertOther", vars);
  }
  function alertFacts(a) {
    var team = teamsById[a.team];
    var facts = [team ? label(team) : a.team, t("kind_" + a.kind), t("severity_" + a.severity), t("delivery_" + a.delivery_status)];
    if (known(a.shortfall) && a.kind !== "recovered") facts.splice(1, 0, t("shortfall", { shortfall: pct(a.shortfall) }));
    if (a.kind === "held_back" && team) facts.splice(1, 0, t("failedChecks", { n: team.failed_checks.length }));
    if (a.created_at) facts.push(a.created_at);
    return facts.join(" · ");
  }
  function renderAlerts() {
    var root = clear("alerts");
    append(root, h("h2", { text: t("alerts") + (DATA.alerts.day ? " · " + DATA.alerts.day : "") }));
    if (!DATA.alerts.items.length) { append(root, h("p", { "class": "muted", text: t("alertsNone") })); return; }
    DATA.alerts.items.forEach(function (a) {
      var own = a.lang === state.lang;  // the alerts step's words, when they are in this language
      append(root, h("div", { "class": "alert " + a.severity, "data-kind": a.kind, "data-kpi": a.kpi_id || "",
        tabindex: a.kpi_id ? "0" : null, onclick: a.kpi_id ? function () { select(a.kpi_id, true); } : null }, [
        h("div", { "class": "title", text: alertTitle(a) }),
        own && a.text ? h("div", { "class": "text", text: a.text }) : null,
        h("div", { "class": "meta", text: alertFacts(a) })
      ]));
    });
  }

  // ---- teams, notices, units, people -----------------------------------------------------------
  function renderNotices() {
    var root = clear("notices");
    DATA.teams.forEach(function (team) {
      if (!team.held_back) return;
      append(root, h("div", { "class": "notice", "data-team": team.id }, [
        h("strong", { text: t("heldBack") + ": " + label(team) + " (" + team.held_back_day + ")" }),
        " — " + t("heldBackText", { n: team.failed_checks.length, day: team.published_as_of || t("never") }),
        team.report ? [" ", h("a", { "class": "report", href: team.report, text: t("report") })] : null,
        checksDetails(team)
      ]));
    });
    var provisional = DATA.nodes.filter(function (n) { return periodOf(n).provisional; });
    if (provisional.length) {
      append(root, h("div", { "class": "notice info" }, [
        h("span", { "class": "prov-mark", text: "≈ " }),
        t("provisional") + ": " + provisional.map(label).join(state.lang === "zh" ? "、" : ", ")
      ]));
    }
    var incomplete = DATA.nodes.filter(function (n) { return n.available && periodOf(n).missing_days; });
    if (incomplete.length) {
      append(root, h("div", { "class": "notice info gap-notice" }, [
        h("span", { "class": "gap-mark", text: "⚠ " }),
        incomplete.map(function (n) { return label(n) + " (" + gapText(periodOf(n)) + ")"; })
          .join(state.lang === "zh" ? "；" : "; ")
      ]));
    }
  }
  // the failed checks as the quality gate names them (technical): folded, for whoever repairs
  function checksDetails(team) {
    if (!team.failed_checks.length) return null;
    return h("details", { "class": "checks" }, [
      h("summary", { text: t("failedChecksList", { n: team.failed_checks.length }) }),
      h("ul", { lang: "en" }, team.failed_checks.map(function (c) { return h("li", { text: c }); }))
    ]);
  }
  function renderTeams() {
    var root = clear("teams");
    append(root, h("h2", { text: t("teams") }));
    var cards = h("div", { "class": "cards" });
    DATA.teams.forEach(function (team) {
      var sc = team.scorecard[state.period];
      var status = team.held_back ? h("div", { "class": "notice", text: t("heldBack") + " (" + team.held_back_day + "): " +
          t("heldBackText", { n: team.failed_checks.length, day: team.published_as_of || t("never") }) })
        : team.skipped ? h("div", { "class": "muted team-skipped", text: t("skipped") })
        : (team.status === "not_published" ? h("div", { "class": "muted", text: t("notPublished") }) : null);
      var table = dataTable({
        name: "scorecard", title: t("scorecard"), file: team.id + "_scorecard_" + state.period, keep: true,
        columns: [
          { label: t("kpi"), type: "text", cls: "member", value: function (r) { return label(nodesById[r.kpi]); } },
          { label: t("weight"), type: "share", value: function (r) { return r.weight; } },
          { label: t("attainment"), type: "share", value: function (r) { return r.attainment; },
            cell: function (r) { return r.needs ? h("span", { "class": "muted needs", text: needsText(r.needs) }) : [dot(r.status), pct(r.attainment)]; } }
        ],
        rows: sc.rows, rowAttrs: function (r) { return { "data-kpi": r.kpi }; }
      });
      append(cards, h("article", { "class": "card team-card" + (team.held_back ? " held" : "") + (state.team === team.id ? " is-target" : ""),
        id: "team-" + team.id, "data-team": team.id }, [
        h("div", { "class": "card-head" }, [
          h("h3", { text: label(team) }),
          h("span", { "class": "score s-" + statusOf(sc.status), title: t("score"), text: pct(sc.score) })
        ]),
        status,
        h("div", { "class": "muted small", text: t("lastGood") + ": " + (team.published_as_of || t("never")) }),
        table
      ]));
    });
    append(root, [cards, h("p", { "class": "muted small", text: t("scoreNote", { cap: pct(DATA.score_cap) }) })]);
  }
  function renderUnits() {
    var root = clear("units");
    append(root, h("h2", { text: t("units") }));
    var period = state.period === "day" ? "month" : state.period;
    var rows = DATA.units.filter(function (u) { return u.period === period; });
    if (!rows.length) { append(root, h("p", { "class": "muted", text: t("unitsNone") })); return; }
    if (state.period === "day") append(root, h("p", { "class": "muted small", text: t("unitsMonth") }));
    append(root, dataTable({
      id: "units-table", name: "units", title: t("units"), file: "units_" + period, untitled: true,
      columns: [
        // an allocation over a dimension by the dimension's name; another (regions) by the plan's
        { label: t("allocation"), type: "text", value: function (u) { return u.dimension ? t(u.dimension) : u.scope.split(":")[0]; } },
        { label: t("unit"), type: "text", cls: "member", value: function (u) {
          var parts = u.scope.split(":");
          return u.dimension && known(u.member) ? memberLabel(u.dimension, u.member) : (parts.length > 1 ? parts.slice(1).join(":") : u.scope);
        } },
        { label: t("kpi"), type: "text", cls: "member", value: function (u) { return label(nodesById[u.kpi]); } },
        { label: t("target"), type: "num", value: function (u) { return u.target; }, cell: function (u) { return fmt(u.target, nodesById[u.kpi].unit); } },
        { label: t("paced"), type: "num", value: function (u) { return u.paced_target; }, cell: function (u) { return fmt(u.paced_target, nodesById[u.kpi].unit); } },
        { label: t("actual"), type: "num", value: function (u) { return u.actual; }, cell: function (u) { return fmt(u.actual, nodesById[u.kpi].unit); } },
        { label: t("attainment"), type: "share", value: function (u) { return u.attainment; },
          cell: function (u) { return known(u.attainment) ? [dot(u.status), pct(u.attainment)] : h("span", { "class": "muted", text: t("targetsOnly") }); } }
      ],
      rows: rows
    }));
  }
  function renderPeople() {
    var root = clear("people");
    append(root, h("h2", { text: t("people") }));
    if (!DATA.people.length) { append(root, h("p", { "class": "muted", text: t("peopleNone") })); return; }
    var rows = DATA.people.filter(function (p) { return p.period === state.period; });
    var kpis = [], people = [], cell = {};
    rows.forEach(function (p) {
      if (kpis.indexOf(p.kpi) < 0) kpis.push(p.kpi);
      if (people.indexOf(p.person) < 0) people.push(p.person);
      cell[p.person + "|" + p.kpi] = p;
    });
    people.sort();
    append(root, h("p", { "class": "muted small", text: t("peopleHint") }));
    if (state.person) {
      var mine = rows.filter(function (p) { return p.person === state.person; });
      append(root, h("div", { "class": "person-card", id: "person-card", "data-person": state.person }, [
        h("h3", { text: t("personCard", { person: memberLabel((mine[0] || {}).dimension, state.person) }) }),
        mine.length ? h("ul", null, mine.map(function (p) {
          var n = nodesById[p.kpi];
          return h("li", null, [dot(p.status), t("personLine", {
            kpi: label(n), actual: fmt(p.actual, n.unit), target: fmt(p.target, n.unit), attainment: pct(p.attainment)
          })]);
        })) : h("p", { "class": "muted", text: t("personNone") })
      ]));
    }
    var dim = rows.length ? rows[0].dimension : null;
    var columns = [{ label: t("person"), type: "text", cls: "member", value: function (person) { return memberLabel(dim, person); },
      cell: function (person) {
        return [h("a", { "class": "person-link", href: "#person=" + encodeURIComponent(person), title: t("personLink"), text: memberLabel(dim, person) })];
      } }];
    kpis.forEach(function (k) {
      var n = nodesById[k];
      var target = rows.filter(function (r) { return r.kpi === k; })[0].target;
      columns.push({ label: label(n) + " (" + t("target") + " " + fmt(target, n.unit) + ")", type: n.unit,
        value: function (person) { return (cell[person + "|" + k] || {}).actual; },
        cell: function (person) {
          var p = cell[person + "|" + k];
          return p ? [dot(p.status), fmt(p.actual, n.unit) + " · " + pct(p.attainment)] : MISSING;
        } });
      if (n.parts) {
        columns.push({ label: label(n.parts.denominator), type: n.parts.denominator.unit, cls: "volume",
          value: function (person) { return (cell[person + "|" + k] || {}).denominator; } });
      }
    });
    append(root, dataTable({ id: "people-table", name: "people", title: t("people"), file: "people_" + state.period, untitled: true,
      columns: columns, rows: people,
      rowAttrs: function (person) { return { id: "person-" + person, "data-person": person, "class": state.person === person ? "is-target" : null }; } }));
  }

  // ---- links: #person=…, #team=…, #kpi=… -----------------------------------------------------
  function readHash() {
    var m = /^#(person|team|kpi)=(.+)$/.exec(location.hash);
    state.person = null;
    state.team = null;
    if (!m) return null;
    var id = decodeURIComponent(m[2]);
    if (m[1] === "person") state.person = id;
    if (m[1] === "team") state.team = id;
    if (m[1] === "kpi" && nodesById[id]) state.selected = id;
    return m[1] === "person" ? "person-card" : m[1] === "team" ? "team-" + id : null;
  }
  function followHash() {
    var target = readHash();
    render();
    if (target) {
      var el = document.getElementById(target);
      if (el) el.scrollIntoView({ block: "start" });
    }
  }

  function renderStatic() {
    var plan = DATA.plan ? t("planLine", { version: DATA.plan.version_id, name: DATA.plan.plan_name }) : "";
    var footer = clear("footer");
    append(footer, [
      h("span", { text: t("footer") }), " ",
      h("span", { id: "drawn", text: t("drawn", { time: DATA.generated_at, zone: DATA.timezone }) }),
      plan ? " · " + plan : ""
    ]);
  }

  function render() {
    renderHeader();
    headerHeight();
    renderSummary();
    renderNotices();
    renderTree();
    renderDetail();
    renderAlerts();
    renderTeams();
    renderUnits();
    renderPeople();
    renderStatic();
  }

  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && state.selected) select(null); });
  // the printed page has the problems unfolded, whatever the screen had
  var problemsOpen = null;
  window.addEventListener("beforeprint", function () {
    var details = document.getElementById("problems");
    problemsOpen = details.open;
    details.open = true;
  });
  window.addEventListener("afterprint", function () {
    if (problemsOpen !== null) document.getElementById("problems").open = problemsOpen;
  });
  window.addEventListener("hashchange", followHash);
  // on a phone the problems fold into their count, so the tree's top is on the first screen
  if (window.matchMedia && window.matchMedia(PHONE).matches) document.getElementById("problems").removeAttribute("open");
  followHash();
  document.body.setAttribute("data-ready", "true");
})();
