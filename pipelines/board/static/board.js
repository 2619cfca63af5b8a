/* The board (看板): draws the KPI tree, drill-downs, scorecards, people and alerts as SVG and
 * HTML from the JSON embedded in the page. Our own code, no libraries: the page works offline.
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("board-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";

  var I18N = {
    en: {
      title: "KPI board", asOf: "Data as of", generated: "drawn", plan: "Plan",
      period: "Period", day: "Day", month: "Month to date", quarter: "Quarter to date",
      year: "Year to date", lang: "中文", tree: "The KPI tree",
      treeHint: "Click a node for its trend and breakdown.",
      actual: "Actual", target: "Target", paced: "Paced target", attainment: "Attainment",
      gap: "Gap", projected: "Projected period end", status: "Status", daysLeft: "Days left",
      on_track: "on track", at_risk: "at risk", short: "short", none: "no target",
      identity: "identity (× product, + sum)", driver: "driver (no identity)",
      provisional: "provisional: includes days still maturing",
      provisionalShort: "provisional", stale: "team data held back: last good publication",
      dailyTrend: "Daily: actual vs target", cumulative: "Period to date: actual vs paced target",
      breakdown: "Breakdown", member: "Member", value: "Value", share: "Share",
      noData: "no data", noCumulative: "percentiles do not add up over days",
      teams: "Teams", score: "Score", weight: "Weight", kpi: "KPI",
      units: "Regions, channels and teams against their targets",
      unitsNone: "The plan in force allocates nothing for this period.",
      targetsOnly: "targets only: the unit names no dimension to take actuals from",
      people: "People", peopleNone: "No team declares its people (tree.yaml teams.<id>.people).",
      alerts: "Today's alerts", alertsNone: "No alerts for this night.",
      heldBack: "Data held back", heldBackText: "checks failed; the last good publication stays",
      lastGood: "last good publication", never: "none yet",
      notPublished: "not published yet", owner: "Owner", node: "Node",
      scoreNote: "score = Σ weight × attainment (each capped at {cap}) over the KPIs with a target",
      delivered: "delivered", undelivered: "undelivered",
      footer: "Drawn from the serving warehouse (kpi.duckdb); numbers are the published ones.",
      channel: "Channel", campaign: "Campaign", agent: "Agent", carrier: "Carrier",
      payment_method: "Payment method", customer_type: "Customer type", topic: "Topic",
      landing_page: "Landing page", held_back: "held back", break: "break",
      recovered: "recovered", person: "Person", allocation: "Allocation", unit: "Unit",
      dimensionNone: "No dimension breakdown for this KPI and period.", close: "Close", pacedShort: "Pace",
      notAvailable: "not available", unavailable: "not available: the shop does not deliver a source it reads",
      skipped: "skipped: none of its KPIs can be computed from the sources delivered"
    },
    zh: {
      title: "KPI 看板", asOf: "数据截至", generated: "生成于", plan: "目标版本",
      period: "周期", day: "当日", month: "月累计", quarter: "季累计", year: "年累计",
      lang: "English", tree: "KPI 树", treeHint: "点击节点查看趋势与拆解。",
      actual: "实际", target: "目标", paced: "进度目标", attainment: "达成率", gap: "差距",
      projected: "按当前进度预计期末", status: "状态", daysLeft: "剩余天数",
      on_track: "达标", at_risk: "预警", short: "落后", none: "无目标",
      identity: "恒等关系（× 乘积，+ 求和）", driver: "驱动因素（无恒等关系）",
      provisional: "暂定：含尚未成熟的日期", provisionalShort: "暂定",
      stale: "该部门数据被拦截：显示上次合格发布",
      dailyTrend: "每日：实际 vs 目标", cumulative: "期间累计：实际 vs 进度目标",
      breakdown: "维度拆解", member: "成员", value: "数值", share: "占比",
      noData: "无数据", noCumulative: "分位数不能按天累计",
      teams: "部门", score: "得分", weight: "权重", kpi: "指标",
      units: "区域、渠道与团队的目标进度", unitsNone: "当前目标版本在此周期没有分配。",
      targetsOnly: "仅目标：该单元未关联维度，无实际值",
      people: "人员", peopleNone: "没有部门声明人员维度（tree.yaml teams.<id>.people）。",
      alerts: "今日预警", alertsNone: "今晚没有预警。",
      heldBack: "数据被拦截", heldBackText: "项检查未通过；保留上次合格发布",
      lastGood: "上次合格发布", never: "尚无",
      notPublished: "尚未发布", owner: "负责部门", node: "节点",
      scoreNote: "得分 = Σ 权重 × 达成率（每项最高 {cap}），仅计有目标的指标",
      delivered: "已送达", undelivered: "未送达",
      footer: "数据来自发布库（kpi.duckdb），均为通过检查后发布的数字。",
      channel: "渠道", campaign: "推广计划", agent: "客服", carrier: "快递公司",
      payment_method: "支付方式", customer_type: "客户类型", topic: "咨询主题",
      landing_page: "落地页", held_back: "数据拦截", break: "异常波动",
      recovered: "已恢复", person: "人员", allocation: "分配", unit: "单元",
      dimensionNone: "该指标在此周期没有维度拆解。", close: "关闭", pacedShort: "进度",
      notAvailable: "无法计算", unavailable: "无法计算：店铺未提供该指标所需的数据源",
      skipped: "已跳过：现有数据源无法计算该部门的任何指标"
    }
  };
  var PERIODS = ["day", "month", "quarter", "year"];
  var state = { lang: DATA.lang === "zh" ? "zh" : "en", period: "month", selected: null };
  try {
    var saved = JSON.parse(window.localStorage.getItem("kpi-board") || "{}");
    if (saved.lang === "en" || saved.lang === "zh") state.lang = saved.lang;
    if (PERIODS.indexOf(saved.period) >= 0) state.period = saved.period;
  } catch (e) { /* storage unavailable (file:// in some browsers): keep the defaults */ }

  var nodesById = {};
  DATA.nodes.forEach(function (n) { nodesById[n.id] = n; });
  var teamsById = {};
  DATA.teams.forEach(function (t) { teamsById[t.id] = t; });

  // ---- helpers ------------------------------------------------------------------------------
  function t(key) {
    var table = I18N[state.lang];
    return table[key] !== undefined ? table[key] : (I18N.en[key] !== undefined ? I18N.en[key] : key);
  }
  function label(obj) { return state.lang === "zh" ? obj.zh : obj.en; }
  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function s(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = v;
      else if (k === "onclick") e.addEventListener("click", v);
      else e.setAttribute(k, v);
    });
  }
  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
  }
  // KPI values and shares as the CLI writes them: format.js applies the page's rules of the
  // language shown (its locale's, in the shop's currency)
  var formats = {};
  Object.keys(DATA.formats).forEach(function (lang) { formats[lang] = kpiFormats(DATA.formats[lang]); });
  function fmt(value, unit) { return formats[state.lang].value(value, unit); }
  function pct(value) { return formats[state.lang].share(value); }
  var MISSING = DATA.formats.en.missing;
  // a member of a dimension with a vocabulary (channel, carrier, ...) by its label
  function memberLabel(dim, member) {
    var labels = (DATA.labels[dim] || {})[member];
    return labels ? labels[state.lang] : member;
  }
  function statusOf(st) { return st || "none"; }
  function statusDot(st) {
    return h("span", { "class": "dot bg-" + statusOf(st), title: t(statusOf(st)) });
  }
  function statusText(st) {
    return h("span", { "class": "s-" + statusOf(st), text: t(statusOf(st)) });
  }
  function dimName(d) { return t(d); }
  // what a node the shop cannot compute needs, in the page's language ("needs sessions")
  function needsText(needs) { return needs ? (state.lang === "zh" ? needs.zh : needs.en) : ""; }
  function periodOf(node) { return node.periods[state.period] || {}; }
  function persist() {
    try { window.localStorage.setItem("kpi-board", JSON.stringify({ lang: state.lang, period: state.period })); }
    catch (e) { /* ignore */ }
  }

  // ---- header and notices -------------------------------------------------------------------
  function renderHeader() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title") + " · " + DATA.as_of;
    var root = document.getElementById("header");
    root.textContent = "";
    var plan = DATA.plan ? (t("plan") + ": " + DATA.plan.version_id + " (" + DATA.plan.plan_name + ")") : "";
    var buttons = PERIODS.map(function (p) {
      return h("button", {
        type: "button", "data-period": p, "aria-pressed": String(state.period === p), text: t(p),
        onclick: function () { state.period = p; persist(); render(); }
      });
    });
    append(root, [
      h("h1", { id: "title", text: t("title") }),
      h("div", { "class": "meta" }, [
        h("span", { id: "as-of", text: t("asOf") + " " + DATA.as_of }),
        " · " + plan + " · " + t("generated") + " " + DATA.generated_at
      ]),
      h("div", { "class": "controls", role: "group", "aria-label": t("period") }, buttons.concat([
        h("button", {
          type: "button", id: "lang-toggle", text: t("lang"),
          onclick: function () { state.lang = state.lang === "en" ? "zh" : "en"; persist(); render(); }
        })
      ]))
    ]);
  }

  function renderNotices() {
    var root = document.getElementById("notices");
    root.textContent = "";
    DATA.teams.forEach(function (team) {
      if (!team.held_back) return;
      var items = team.failed_checks.map(function (c) { return h("li", { text: c }); });
      append(root, h("div", { "class": "notice", "data-team": team.id }, [
        h("strong", { text: t("heldBack") + ": " + label(team) + " (" + team.held_back_day + ")" }),
        " — " + team.failed_checks.length + " " + t("heldBackText") + " (" + t("lastGood") + ": " +
          (team.published_as_of || t("never")) + ").",
        h("ul", null, items)
      ]));
    });
    var provisional = DATA.nodes.filter(function (n) { return periodOf(n).provisional; });
    if (provisional.length) {
      append(root, h("div", { "class": "notice info" }, [
        h("span", { "class": "prov-mark", text: "≈ " }),
        t("provisional") + ": " + provisional.map(label).join(", ")
      ]));
    }
  }

  // ---- the tree -----------------------------------------------------------------------------
  function sparkline(node, x, y, w, hgt) {
    var pts = node.daily.slice(-DAY_TREND).filter(function (d) { return d[1] !== null; });
    if (pts.length < 2) return null;
    var vals = pts.map(function (d) { return d[1]; });
    pts.forEach(function (d) { if (d[5] !== null) vals.push(d[5]); });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi === lo) { hi = lo + 1; }
    function px(i) { return x + (i * w) / (pts.length - 1); }
    function py(v) { return y + hgt - ((v - lo) / (hi - lo)) * hgt; }
    var g = s("g", { "class": "sparkline" });
    var targetPts = pts.filter(function (d) { return d[5] !== null; });
    if (targetPts.length === pts.length) {
      append(g, s("polyline", { "class": "spark-target",
        points: pts.map(function (d, i) { return px(i).toFixed(1) + "," + py(d[5]).toFixed(1); }).join(" ") }));
    }
    append(g, s("polyline", { "class": "spark",
      points: pts.map(function (d, i) { return px(i).toFixed(1) + "," + py(d[1]).toFixed(1); }).join(" ") }));
    return g;
  }
  var DAY_TREND = 30;

  function renderTree() {
    var W = DATA.layout.node_w, H = DATA.layout.node_h;
    var maxX = 0, maxY = 0;
    DATA.nodes.forEach(function (n) { maxX = Math.max(maxX, n.x); maxY = Math.max(maxY, n.y); });
    var pad = 8;
    var svg = s("svg", {
      xmlns: SVGNS, width: maxX + W + 2 * pad, height: maxY + H + 2 * pad,
      viewBox: [-pad, -pad, maxX + W + 2 * pad, maxY + H + 2 * pad].join(" "),
      role: "img", "aria-label": t("tree")
    });
    var edges = s("g", { "class": "edges" });
    DATA.nodes.forEach(function (n) {
      if (!n.parent) return;
      var p = nodesById[n.parent];
      var x1 = p.x + W, y1 = p.y + H / 2, x2 = n.x, y2 = n.y + H / 2, mx = (x1 + x2) / 2;
      var identity = n.relation !== "driver";
      append(edges, s("path", {
        "class": "edge " + (identity ? "identity" : "driver"), "data-child": n.id,
        d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2
      }));
      if (identity) {
        append(edges, s("text", { "class": "edge-label", x: x2 - 12, y: y2 + 4,
          text: n.relation === "product" ? "×" : "+" }));
      }
    });
    append(svg, edges);
    DATA.nodes.forEach(function (n) {
      var v = periodOf(n);
      var st = statusOf(v.status);
      var g = s("g", {
        "class": "node" + (n.available ? "" : " unavailable") + (n.stale ? " stale" : "") +
          (state.selected === n.id ? " selected" : ""),
        "data-kpi": n.id, transform: "translate(" + n.x + "," + n.y + ")", tabindex: "0",
        role: "button", "aria-label": label(n)
      });
      g.addEventListener("click", function () { select(n.id); });
      g.addEventListener("keydown", function (ev) { if (ev.key === "Enter") select(n.id); });
      var name = label(n);
      var room = v.provisional ? 22 : 27;
      if (name.length > room) name = name.slice(0, room - 1) + "…";
      if (!n.available) {
        // greyed: no number, no target, no status; what it needs instead
        append(g, [
          s("title", { text: label(n) + " — " + needsText(n.needs) }),
          s("rect", { "class": "box", width: W, height: H, rx: 6 }),
          s("text", { "class": "name", x: 12, y: 16, text: name }),
          s("text", { "class": "value node-value", x: 12, y: 35, "data-value": "", text: t("notAvailable") }),
          s("text", { "class": "sub node-needs", x: 12, y: 53, "data-needs": needsText(n.needs),
            text: needsText(n.needs).length > 34 ? needsText(n.needs).slice(0, 33) + "…" : needsText(n.needs) })
        ]);
        append(svg, g);
        return;
      }
      append(g, [
        s("title", { text: label(n) + " — " + label(teamsById[n.team]) }),
        s("rect", { "class": "box", width: W, height: H, rx: 6 }),
        s("rect", { "class": "stripe bg-" + st, width: 6, height: H, rx: 2, fill: statusColor(st) }),
        s("text", { "class": "name", x: 12, y: 16, text: name }),
        s("text", { "class": "value node-value", x: 12, y: 35, "data-value": v.actual === null || v.actual === undefined ? "" : String(v.actual), text: fmt(v.actual, n.unit) }),
        s("text", { "class": "att node-attainment s-" + st, x: W - 8, y: 35, "text-anchor": "end",
          "data-value": v.attainment === null || v.attainment === undefined ? "" : String(v.attainment),
          text: v.attainment === null || v.attainment === undefined ? "" : pct(v.attainment) }),
        s("text", { "class": "sub node-target", x: 12, y: 53,
          "data-value": v.paced_target === null || v.paced_target === undefined ? "" : String(v.paced_target),
          text: n.held_back && n.as_of === null ? t("held_back")
            : (v.paced_target === null || v.paced_target === undefined ? t("none") : t("pacedShort") + " " + fmt(v.paced_target, n.unit)) }),
        v.provisional ? s("text", { "class": "badge", x: W - 8, y: 16, "text-anchor": "end", text: "≈" }, s("title", { text: t("provisional") })) : null,
        sparkline(n, W - 74, 41, 66, 15)
      ]);
      append(svg, g);
    });
    var root = document.getElementById("tree");
    root.textContent = "";
    append(root, svg);
    var legend = document.getElementById("legend");
    legend.textContent = "";
    append(legend, [
      legendSwatch("on_track"), legendSwatch("at_risk"), legendSwatch("short"), legendSwatch("none"),
      h("span", null, [legendLine("identity"), " " + t("identity")]),
      h("span", null, [legendLine("driver"), " " + t("driver")]),
      h("span", null, [h("span", { "class": "prov-mark", text: "≈ " }), t("provisional")]),
      h("span", { text: "▭ ┄ " + t("stale") }),
      h("span", null, [h("span", { "class": "sw unavailable-sw" }), t("unavailable")])
    ]);
  }
  function statusColor(st) {
    return { on_track: "#2e7d32", at_risk: "#e09a00", short: "#c62828", none: "#9e9e9e" }[st];
  }
  function legendSwatch(st) {
    return h("span", null, [h("span", { "class": "sw bg-" + st }), t(st)]);
  }
  function legendLine(kind) {
    return s("svg", { width: 30, height: 10 }, s("path", { "class": "edge " + kind, d: "M0,5 L30,5" }));
  }

  // ---- drill-down ---------------------------------------------------------------------------
  function select(id) {
    state.selected = id;
    renderTree();
    renderDetail();
  }

  function periodDays(node) {
    var v = periodOf(node);
    var rows = node.daily;
    if (state.period === "day" || !v.start) return rows.slice(-DAY_TREND);
    return rows.filter(function (d) { return d[0] >= v.start && d[0] <= (node.as_of || d[0]); });
  }

  function cumulativeSeries(node) {
    var grain = state.period === "day" ? "month" : state.period;
    var stored = node.cumulative[grain];
    if (stored && stored.length) {
      return { actual: stored.map(function (r) { return [r[0], r[1]]; }),
               target: stored.map(function (r) { return [r[0], r[2]]; }) };
    }
    if (node.kind === "quantile") return null;
    var v = node.periods[grain] || {};
    var start = v.start;
    var n = 0, d = 0, out = [];
    node.daily.forEach(function (r) {
      if (!start || r[0] < start) return;
      n += r[2] || 0; d += r[3] || 0;
      var value = node.kind === "sum" ? n : (d ? node.scale * n / d : null);
      out.push([r[0], value]);
    });
    return { actual: out, target: [] };
  }

  function lineChart(cls, series, unit, provisional) {
    var W = 440, H = 170, L = 64, R = 10, T = 10, B = 22;
    var all = [];
    series.forEach(function (se) { se.points.forEach(function (p) { if (p[1] !== null) all.push(p[1]); }); });
    var dates = [];
    series.forEach(function (se) { se.points.forEach(function (p) { if (dates.indexOf(p[0]) < 0) dates.push(p[0]); }); });
    dates.sort();
    var svg = s("svg", { "class": "chart " + cls, width: W, height: H, viewBox: "0 0 " + W + " " + H });
    if (!all.length || dates.length < 1) {
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
      append(svg, s("text", { "class": "tick", x: L - 4, y: py(v) + 3, "text-anchor": "end", text: fmt(v, unit) }));
    });
    append(svg, [
      s("text", { "class": "tick", x: L, y: H - 6, text: dates[0] }),
      s("text", { "class": "tick", x: W - R, y: H - 6, "text-anchor": "end", text: dates[dates.length - 1] })
    ]);
    series.forEach(function (se) {
      var pts = se.points.filter(function (p) { return p[1] !== null && idx[p[0]] !== undefined; });
      if (!pts.length) return;
      var d = pts.map(function (p, i) { return (i ? "L" : "M") + px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1); }).join(" ");
      append(svg, s("path", { "class": se.cls, d: d }, s("title", { text: se.name })));
      if (pts.length === 1) {
        append(svg, s("circle", { "class": se.cls, cx: px(pts[0][0]), cy: py(pts[0][1]), r: 3 }));
      }
    });
    (provisional || []).forEach(function (p) {
      if (p[1] === null || idx[p[0]] === undefined) return;
      append(svg, s("circle", { "class": "prov", cx: px(p[0]), cy: py(p[1]), r: 3 }, s("title", { text: p[0] + " " + t("provisionalShort") })));
    });
    return svg;
  }

  function chartLegend(a, b) {
    return h("div", { "class": "legend" }, [
      h("span", null, [s("svg", { width: 24, height: 8 }, s("path", { d: "M0,4 L24,4", stroke: "#1565c0", "stroke-width": 2 })), " " + a]),
      b ? h("span", null, [s("svg", { width: 24, height: 8 }, s("path", { d: "M0,4 L24,4", stroke: "#7b8794", "stroke-width": 1.5, "stroke-dasharray": "5 4" })), " " + b]) : null,
      h("span", null, [h("span", { "class": "prov-mark", text: "○ " }), t("provisionalShort")])
    ]);
  }

  function renderDetail() {
    var root = document.getElementById("detail");
    root.textContent = "";
    var node = state.selected ? nodesById[state.selected] : null;
    root.className = node ? "open" : "";
    if (!node) return;
    var v = periodOf(node);
    var team = teamsById[node.team];
    append(root, [
      h("button", { type: "button", "class": "close", id: "detail-close", title: t("close"), "aria-label": t("close"),
        text: "×", onclick: function () { select(null); } }),
      h("h3", { id: "detail-title", text: label(node) }),
      h("div", { "class": "owner", text: t("owner") + ": " + label(team) + " · " + t(state.period) + " · " +
        (v.start || "") + (v.end && v.end !== v.start ? " … " + v.end : "") }),
      node.stale ? h("div", { "class": "notice", text: t("stale") + " (" + (node.as_of || t("never")) + ")" }) : null
    ]);
    if (!node.available) {
      append(root, h("div", { "class": "notice info", id: "detail-needs", text: t("notAvailable") + ": " + needsText(node.needs) }));
      return;
    }
    var kv = h("dl", { "class": "kv" });
    function row(k, val) { append(kv, [h("dt", { text: k }), h("dd", null, val)]); }
    row(t("actual"), fmt(v.actual, node.unit) + (v.provisional ? " ≈" : ""));
    if (v.paced_target !== undefined && v.paced_target !== null) {
      row(t("paced"), fmt(v.paced_target, node.unit));
      if (state.period !== "day") row(t("target"), fmt(v.target, node.unit));
      row(t("attainment"), h("span", { "class": "s-" + statusOf(v.status), text: pct(v.attainment) }));
      row(t("status"), statusText(v.status));
      if (v.projected !== undefined && v.projected !== null) row(t("projected"), fmt(v.projected, node.unit) + " (" + pct(v.projected_attainment) + ")");
      if (v.days_left !== undefined && v.days_left !== null) row(t("daysLeft"), String(v.days_left));
    } else {
      row(t("status"), statusText(null));
    }
    append(root, kv);

    var days = periodDays(node);
    var actual = days.map(function (d) { return [d[0], d[1]]; });
    var target = days.filter(function (d) { return d[5] !== null; }).map(function (d) { return [d[0], d[5]]; });
    var prov = days.filter(function (d) { return d[4]; }).map(function (d) { return [d[0], d[1]]; });
    append(root, [
      h("div", { "class": "chart-title", text: t("dailyTrend") }),
      lineChart("trend-daily", [
        { name: t("target"), cls: "series-target", points: target },
        { name: t("actual"), cls: "series-actual", points: actual }
      ], node.unit, prov),
      chartLegend(t("actual"), target.length ? t("target") : null)
    ]);
    var cum = cumulativeSeries(node);
    append(root, h("div", { "class": "chart-title", text: t("cumulative") }));
    if (cum) {
      append(root, [
        lineChart("trend-cumulative", [
          { name: t("paced"), cls: "series-target", points: cum.target },
          { name: t("actual"), cls: "series-actual", points: cum.actual }
        ], node.unit, []),
        chartLegend(t("actual"), cum.target.length ? t("paced") : null)
      ]);
    } else {
      append(root, h("p", { "class": "muted", text: t("noCumulative") }));
    }

    append(root, h("div", { "class": "chart-title", text: t("breakdown") }));
    var dims = (node.breakdown[state.period] || {});
    var names = node.dimensions.filter(function (d) { return dims[d]; });
    if (!names.length) append(root, h("p", { "class": "muted", text: t("dimensionNone") }));
    names.forEach(function (dim) {
      var members = dims[dim];
      var unitRows = {};
      DATA.units.forEach(function (u) {
        if (u.kpi === node.id && u.dimension === dim && u.period === state.period) unitRows[u.member] = u;
      });
      var hasTargets = Object.keys(unitRows).length > 0;
      var max = Math.max.apply(null, members.map(function (m) { return Math.abs(m[1] || 0); })) || 1;
      var total = node.kind === "sum" ? members.reduce(function (a, m) { return a + (m[1] || 0); }, 0) : null;
      var head = [t("member"), t("value"), ""];
      if (total) head.push(t("share"));
      if (hasTargets) head = head.concat([t("paced"), t("attainment")]);
      var table = h("table", { "class": "breakdown", "data-dimension": dim }, [
        h("caption", { style: "text-align:left;font-weight:600;padding:4px 0", text: dimName(dim) }),
        h("tr", null, head.map(function (x) { return h("th", { text: x }); }))
      ]);
      members.slice(0, 12).forEach(function (m) {
        var cells = [
          h("td", { "class": "member", "data-member": m[0], text: memberLabel(dim, m[0]) }),
          h("td", { text: fmt(m[1], node.unit) }),
          h("td", null, h("span", { "class": "bar", style: "width:" + Math.round(60 * Math.abs(m[1] || 0) / max) + "px" }))
        ];
        if (total) cells.push(h("td", { text: pct((m[1] || 0) / total) }));
        if (hasTargets) {
          var u = unitRows[m[0]];
          cells.push(h("td", { text: u ? fmt(u.paced_target, node.unit) : MISSING }));
          cells.push(h("td", null, u ? [statusDot(u.status), pct(u.attainment)] : MISSING));
        }
        append(table, h("tr", null, cells));
      });
      append(root, table);
    });
  }

  // ---- teams, units, people, alerts ---------------------------------------------------------
  function renderTeams() {
    var root = document.getElementById("teams");
    root.textContent = "";
    append(root, h("h2", { text: t("teams") }));
    var cards = h("div", { "class": "cards" });
    DATA.teams.forEach(function (team) {
      var sc = team.scorecard[state.period];
      var table = h("table", null, h("tr", null, [t("kpi"), t("weight"), t("attainment")].map(function (x) { return h("th", { text: x }); })));
      sc.rows.forEach(function (r) {
        append(table, h("tr", { "data-kpi": r.kpi }, [
          h("td", { text: label(nodesById[r.kpi]) }),
          h("td", { text: pct(r.weight) }),
          r.needs ? h("td", { "class": "muted needs", text: needsText(r.needs) })
            : h("td", null, [statusDot(r.status), pct(r.attainment)])
        ]));
      });
      var status = team.held_back ? h("div", { "class": "notice", text: t("heldBack") + " (" + team.held_back_day + "): " + team.failed_checks.length + " " + t("heldBackText") })
        : team.skipped ? h("div", { "class": "muted team-skipped", text: t("skipped") })
        : (team.status === "not_published" ? h("div", { "class": "muted", text: t("notPublished") }) : null);
      append(cards, h("div", { "class": "card" + (team.held_back ? " held" : ""), "data-team": team.id }, [
        h("h3", null, [h("span", { text: label(team) }),
          h("span", { "class": "score s-" + statusOf(sc.status), title: t("score"), text: pct(sc.score) })]),
        status,
        h("div", { "class": "muted", style: "font-size:12px", text: t("lastGood") + ": " + (team.published_as_of || t("never")) }),
        table
      ]));
    });
    append(root, [cards, h("p", { "class": "muted", style: "font-size:12px", text: t("scoreNote").replace("{cap}", pct(DATA.score_cap)) })]);
  }

  function renderUnits() {
    var root = document.getElementById("units");
    root.textContent = "";
    append(root, h("h2", { text: t("units") }));
    var period = state.period === "day" ? "month" : state.period;
    var rows = DATA.units.filter(function (u) { return u.period === period; });
    if (!rows.length) { append(root, h("p", { "class": "muted", text: t("unitsNone") })); return; }
    var table = h("table", { id: "units-table" }, h("tr", null,
      [t("allocation"), t("unit"), t("kpi"), t("target"), t("paced"), t("actual"), t("attainment")].map(function (x) { return h("th", { text: x }); })));
    rows.forEach(function (u) {
      var node = nodesById[u.kpi];
      var parts = u.scope.split(":");
      append(table, h("tr", null, [
        h("td", { text: parts[0] }),
        h("td", { "class": "member", text: u.dimension && u.member !== null ? memberLabel(u.dimension, u.member)
          : (parts.length > 1 ? parts.slice(1).join(":") : (u.member || u.scope)) }),
        h("td", { "class": "member", text: label(node) }),
        h("td", { text: fmt(u.target, node.unit) }),
        h("td", { text: fmt(u.paced_target, node.unit) }),
        h("td", { text: fmt(u.actual, node.unit), title: u.actual === null ? t("targetsOnly") : null }),
        h("td", null, u.attainment === null ? h("span", { "class": "muted", text: t("targetsOnly") }) : [statusDot(u.status), pct(u.attainment)])
      ]));
    });
    append(root, table);
    if (state.period === "day") append(root, h("p", { "class": "muted", text: t("month") }));
  }

  function renderPeople() {
    var root = document.getElementById("people");
    root.textContent = "";
    append(root, h("h2", { text: t("people") }));
    var rows = DATA.people.filter(function (p) { return p.period === state.period; });
    if (!DATA.people.length) { append(root, h("p", { "class": "muted", text: t("peopleNone") })); return; }
    var kpis = [], people = [], cell = {};
    rows.forEach(function (p) {
      if (kpis.indexOf(p.kpi) < 0) kpis.push(p.kpi);
      if (people.indexOf(p.person) < 0) people.push(p.person);
      cell[p.person + "|" + p.kpi] = p;
    });
    people.sort();
    var head = [t("person")];
    kpis.forEach(function (k) { head.push(label(nodesById[k]) + " (" + t("target") + " " + fmt(rows.filter(function (r) { return r.kpi === k; })[0].target, nodesById[k].unit) + ")"); });
    var table = h("table", { id: "people-table" }, h("tr", null, head.map(function (x) { return h("th", { text: x }); })));
    people.forEach(function (person) {
      var cells = [h("td", { "class": "member", text: person })];
      kpis.forEach(function (k) {
        var p = cell[person + "|" + k];
        cells.push(h("td", null, p ? [statusDot(p.status), fmt(p.actual, nodesById[k].unit) + " · " + pct(p.attainment)] : MISSING));
      });
      append(table, h("tr", null, cells));
    });
    append(root, table);
  }

  function renderAlerts() {
    var root = document.getElementById("alerts");
    root.textContent = "";
    append(root, h("h2", { text: t("alerts") + (DATA.alerts.day ? " · " + DATA.alerts.day : "") }));
    if (!DATA.alerts.items.length) { append(root, h("p", { "class": "muted", text: t("alertsNone") })); return; }
    DATA.alerts.items.forEach(function (a) {
      var team = teamsById[a.team];
      append(root, h("div", { "class": "alert " + a.severity, "data-kind": a.kind, "data-kpi": a.kpi_id || "" }, [
        h("div", { "class": "title", text: a.title }),
        h("div", { "class": "text", text: a.text }),
        h("div", { "class": "meta", text: [team ? label(team) : a.team, t(a.kind), a.severity, t(a.delivery_status === "delivered" ? "delivered" : "undelivered")].join(" · ") })
      ]));
    });
  }

  function renderStatic() {
    document.getElementById("tree-title").textContent = t("tree");
    document.getElementById("tree-hint").textContent = t("treeHint");
    document.getElementById("footer").textContent = t("footer");
  }

  function render() {
    renderHeader();
    renderStatic();
    renderNotices();
    renderTree();
    renderDetail();
    renderAlerts();
    renderTeams();
    renderUnits();
    renderPeople();
  }

  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && state.selected) select(null); });
  render();
  document.body.setAttribute("data-ready", "true");
})();
