"""The supervision dashboard page (电子监察看板): static HTML whose script calls the API.

No data is in the page itself; the user pastes a staff token (kept in this tab's
sessionStorage only). Chinese by default, English with the language switch. All text
from the API is inserted with textContent, never as HTML.
"""

from __future__ import annotations

DASHBOARD_HTML = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>电子监察看板</title>
<style>
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 1.5rem;
       color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; font-size: .9rem; }
th { background: #f3f3f3; }
.red { color: #b00020; font-weight: 600; } .yellow { color: #a66b00; font-weight: 600; }
.bar { display: inline-block; height: .7rem; vertical-align: middle; }
.bar.actual { background: #4a78c2; } .bar.committed { background: #bbb; }
#error { color: #b00020; } input { margin-right: .5rem; } .muted { color: #777; }
</style>
</head>
<body>
<header>
  <h1 data-i18n="title">电子监察看板</h1>
  <label><span data-i18n="token">工作人员令牌</span>
    <input id="token" type="password" size="40" autocomplete="off"></label>
  <button id="load" data-i18n="load">加载</button>
  <button id="lang">English</button>
  <p id="error" role="alert"></p>
</header>

<section>
  <h2 data-i18n="red">红牌 (已超期)</h2>
  <table id="red-table"><thead><tr>
    <th data-i18n="application">办件编号</th><th data-i18n="matter">事项</th>
    <th data-i18n="department">部门</th><th data-i18n="days">超期/剩余天数</th>
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="yellow">黄牌 (临近期限)</h2>
  <table id="yellow-table"><thead><tr>
    <th data-i18n="application">办件编号</th><th data-i18n="matter">事项</th>
    <th data-i18n="department">部门</th><th data-i18n="days">超期/剩余天数</th>
  </tr></thead><tbody></tbody></table>
</section>

<section>
  <h2 data-i18n="figures">各部门按时办结率 (本月)</h2>
  <table id="figures-table"><thead><tr>
    <th data-i18n="department">部门</th><th data-i18n="received">收件</th>
    <th data-i18n="completed">办结</th><th data-i18n="onTime">按时办结率</th>
    <th data-i18n="actualVsCommitted">实际/承诺天数 (自然日)</th>
    <th data-i18n="atMostOnce">最多跑一次率</th>
  </tr></thead><tbody></tbody></table>
</section>

<section>
  <h2 data-i18n="search">办件查询</h2>
  <input id="code" size="30"><button id="find" data-i18n="find">查询</button>
  <table id="timeline-table"><thead><tr>
    <th>#</th><th data-i18n="time">时间</th><th data-i18n="event">事件</th>
  </tr></thead><tbody></tbody></table>
</section>

<script>
"use strict";
const TEXT = {
  zh: {title: "电子监察看板", token: "工作人员令牌", load: "加载", red: "红牌 (已超期)",
       yellow: "黄牌 (临近期限)", application: "办件编号", matter: "事项", department: "部门",
       days: "超期/剩余天数", figures: "各部门按时办结率 (本月)", received: "收件",
       completed: "办结", onTime: "按时办结率", actualVsCommitted: "实际/承诺天数 (自然日)",
       atMostOnce: "最多跑一次率", search: "办件查询", find: "查询", time: "时间",
       event: "事件", over: "超期", left: "剩余", own: "(整体时限)", none: "无",
       switchTo: "English"},
  en: {title: "E-supervision dashboard", token: "Staff token", load: "Load",
       red: "Red (overdue)", yellow: "Yellow (due soon)", application: "Application",
       matter: "Matter", department: "Department", days: "Days over / left",
       figures: "On-time rate per department (this month)", received: "Received",
       completed: "Completed", onTime: "On-time rate",
       actualVsCommitted: "Actual / committed days (natural)", atMostOnce: "At-most-once rate",
       search: "Find an application", find: "Find", time: "Time", event: "Event",
       over: "over", left: "left", own: "(overall limit)", none: "none",
       switchTo: "中文"},
};
let lang = "zh";
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key];

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("switchTo");
}

async function api(path) {
  const token = $("token").value.trim();
  sessionStorage.setItem("onceonly-token", token);
  const response = await fetch(path, {headers: {Authorization: "Bearer " + token}});
  const body = await response.json();
  if (!response.ok) throw new Error(body.title + ": " + (body.detail || response.status));
  return body;
}

function row(tbody, cells, className) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
    tr.appendChild(td);
  }
  if (className) tr.className = className;
  tbody.appendChild(tr);
}

function clear(id) {
  const tbody = $(id).querySelector("tbody");
  tbody.replaceChildren();
  return tbody;
}

function daysText(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const days = (Math.abs(seconds) / 86400).toFixed(1);
  return seconds < 0 ? t("over") + " " + days : t("left") + " " + days;
}

function bars(actual, committed) {
  const span = document.createElement("span");
  const scale = 8;
  for (const [value, kind] of [[actual, "actual"], [committed, "committed"]]) {
    const bar = document.createElement("span");
    bar.className = "bar " + kind;
    bar.style.width = Math.min((value || 0) * scale, 300) + "px";
    span.appendChild(bar);
    span.appendChild(document.createTextNode(" " + (value ?? "-") + " "));
  }
  return span;
}

const percent = (value) => value === null ? "-" : (value * 100).toFixed(1) + "%";

async function loadAlerts() {
  const body = await api("/v1/supervision/alerts");
  for (const level of ["red", "yellow"]) {
    const tbody = clear(level + "-table");
    for (const a of body[level]) {
      row(tbody, [a.application_code, a.matter_code, a.department_code || t("own"),
                  daysText(a.seconds_left)], level);
    }
    if (!body[level].length) row(tbody, [t("none")], "muted");
  }
}

async function loadFigures() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  const from = now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-01T00:00:00";
  const next = new Date(now.getFullYear(), now.getMonth() + 1, 1);
  const to = next.getFullYear() + "-" + pad(next.getMonth() + 1) + "-01T00:00:00";
  const query = new URLSearchParams({from, to, group_by: "department"});
  const body = await api("/v1/supervision/figures?" + query);
  const tbody = clear("figures-table");
  for (const g of body.groups) {
    row(tbody, [g.group, g.received, g.completed, percent(g.on_time_rate),
                bars(g.average_days, g.average_committed_days), percent(g.at_most_once_rate)]);
  }
}

async function findApplication() {
  const code = $("code").value.trim();
  if (!code) return;
  const body = await api("/v1/applications/" + encodeURIComponent(code) + "/timeline");
  const tbody = clear("timeline-table");
  for (const e of body.entries) row(tbody, [e.seq, e.time, e.type.split(".").pop()]);
}

function guarded(action) {
  return async () => {
    $("error").textContent = "";
    try { await action(); } catch (error) { $("error").textContent = error.message; }
  };
}

$("load").addEventListener("click", guarded(async () => {
  await loadAlerts();
  await loadFigures();
}));
$("find").addEventListener("click", guarded(findApplication));
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  applyLanguage();
});
$("token").value = sessionStorage.getItem("onceonly-token") || "";
applyLanguage();
</script>
</body>
</html>
"""
