"""The supervision dashboard page (电子监察看板): static HTML whose script calls the API.

No data is in the page itself; staff sign in against the staff directory
(`/v1/session`), which sets an HttpOnly session cookie the script never sees. Chinese
by default; English with the language switch or `?lang=en`, and switching re-renders
what is on screen. All text from the API is
inserted with textContent, never as HTML.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re

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
.legal { color: #fff; background: #7a0016; font-weight: 600; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem;
               vertical-align: middle; }
.legend .committed { background: #bbb; } .legend .actual { background: #4a78c2; }
.swatch-0 { background: #4a78c2; } .swatch-1 { background: #c2644a; }
.swatch-2 { background: #3f9a5b; } .swatch-3 { background: #8a5ac2; }
.swatch-4 { background: #c2a04a; } .swatch-5 { background: #4ab0c2; }
#error { color: #b00020; } input { margin-right: .5rem; } .muted { color: #777; }
.filters label { margin-right: .6rem; white-space: nowrap; }
a.code { color: #1a4fa0; cursor: pointer; }
.legal a.code { color: #fff; }
</style>
</head>
<body data-temporal-url="{temporal_url}" data-traces-url="{traces_url}">
<header>
  <h1 data-i18n="title">电子监察看板</h1>
  <span id="signed-out">
    <label><span data-i18n="staffId">工号</span>
      <input id="staff-id" size="14" autocomplete="username"></label>
    <label><span data-i18n="password">密码</span>
      <input id="password" type="password" size="14" autocomplete="current-password"></label>
    <button id="sign-in" data-i18n="signIn">登录</button>
    <a id="sign-on" href="/v1/session/oidc" hidden data-i18n="signOn">统一身份认证登录</a>
  </span>
  <span id="signed-in" hidden><span id="who"></span>
    <button id="sign-out" data-i18n="signOut">退出</button></span>
  <label><span data-i18n="period">统计月份</span> <input id="month" type="month"></label>
  <button id="load" data-i18n="load">加载</button>
  <button id="lang">English</button>
  <label><input id="auto" type="checkbox"> <span data-i18n="auto">每 30 秒自动刷新</span></label>
  <p id="error" role="alert"></p>
</header>

<section>
  <h2 data-i18n="legal">超法定时限 (已移送监察室)</h2>
  <table id="legal-table"><thead><tr>
    <th data-i18n="application">办件编号</th><th data-i18n="matter">事项</th>
    <th data-i18n="department">部门</th><th data-i18n="days">超期/剩余天数</th>
  </tr></thead><tbody></tbody></table>
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
  <h2 data-i18n="figures">各部门按时办结率</h2>
  <table id="figures-table"><thead><tr>
    <th data-i18n="department">部门</th><th data-i18n="received">收件</th>
    <th data-i18n="completed">办结</th><th data-i18n="onTime">按时办结率</th>
    <th data-i18n="actual">平均实际天数</th><th data-i18n="committed">平均承诺天数</th>
    <th data-i18n="atMostOnce">最多跑一次率</th>
    <th data-i18n="onTimeExtended">按延期后时限按时率</th>
    <th data-i18n="extensionRate">延期占比</th>
    <th data-i18n="legalOverruns">超法定时限</th>
    <th data-i18n="rectificationRate">差评整改率</th>
    <th data-i18n="rectificationOnTime">整改按时率</th>
    <th data-i18n="openCases">未结督办件</th>
    <th data-i18n="orders">12345 工单</th>
    <th data-i18n="satisfaction">回访满意率</th>
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="chart">承诺与实际办理天数 (自然日)</h2>
  <p class="legend"><span class="committed"></span><b data-i18n="committed">平均承诺天数</b>
    <span class="actual"></span><b data-i18n="actual">平均实际天数</b></p>
  <svg id="days-chart" role="img" width="640" height="0"></svg>
  <h2 data-i18n="trend">按时办结率 (近六个月)</h2>
  <p id="trend-legend" class="legend"></p>
  <svg id="trend-chart" role="img" width="640" height="220"></svg>
</section>

<section>
  <h2 data-i18n="cases">督办件 (待部门书面反馈)</h2>
  <table id="cases-table"><thead><tr>
    <th data-i18n="caseCode">督办件编号</th><th data-i18n="application">办件编号</th>
    <th data-i18n="department">部门</th><th data-i18n="addressee">督办对象</th>
    <th data-i18n="responseDue">反馈期限</th>
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="workOrders">12345 工单 (未办结)</h2>
  <table id="work-orders-table"><thead><tr>
    <th data-i18n="caseCode">编号</th><th data-i18n="application">办件编号</th>
    <th data-i18n="department">部门</th><th data-i18n="kind">类型</th>
    <th data-i18n="stage">环节</th><th data-i18n="responseDue">期限</th>
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="rectifications">差评整改 (待答复)</h2>
  <table id="rectifications-table"><thead><tr>
    <th data-i18n="caseCode">督办件编号</th><th data-i18n="application">办件编号</th>
    <th data-i18n="department">部门</th><th data-i18n="level">监察</th>
    <th data-i18n="responseDue">反馈期限</th>
  </tr></thead><tbody></tbody></table>
</section>

<section>
  <h2 data-i18n="browse">办件检索</h2>
  <div class="filters">
    <label><span data-i18n="region">区划代码</span>
      <input id="f-region" size="12" list="divisions"></label>
    <datalist id="divisions"></datalist>
    <label><span data-i18n="department">部门</span> <select id="f-department"></select></label>
    <label><span data-i18n="matter">事项</span> <select id="f-matter"></select></label>
    <label><span data-i18n="level">监察</span> <select id="f-level">
      <option value="" data-i18n="any">全部</option>
      <option value="yellow" data-status="yellow"></option>
      <option value="red" data-status="red"></option>
      <option value="legal" data-status="legal"></option>
    </select></label>
    <label><span data-i18n="status">状态</span> <select id="f-status">
      <option value="" data-i18n="any">全部</option>
      <option value="accepted" data-status="accepted"></option>
      <option value="supplement_requested" data-status="supplement_requested"></option>
      <option value="completed" data-status="completed"></option>
      <option value="rejected" data-status="rejected"></option>
      <option value="withdrawn" data-status="withdrawn"></option>
    </select></label>
    <label><span data-i18n="from">提交日期自</span> <input id="f-from" type="date"></label>
    <label><span data-i18n="to">至</span> <input id="f-to" type="date"></label>
    <button id="browse" data-i18n="browseButton">检索</button>
    <button id="more" data-i18n="more" disabled>更多</button>
    <button id="export" data-i18n="export" disabled>导出 CSV</button>
  </div>
  <table id="found-table"><thead><tr>
    <th data-i18n="application">办件编号</th><th data-i18n="region">区划代码</th>
    <th data-i18n="matter">事项</th><th data-i18n="status">状态</th>
    <th data-i18n="level">监察</th><th data-i18n="department">部门</th>
    <th data-i18n="submitted">提交时间</th>
  </tr></thead><tbody></tbody></table>
</section>

<section id="detail">
  <h2 data-i18n="search">办件查询</h2>
  <input id="code" size="30"><button id="find" data-i18n="find">查询</button>
  <p id="app-status"></p>
  <p id="app-links"></p>
  <p id="app-due"></p>
  <table id="timeline-table"><thead><tr>
    <th>#</th><th data-i18n="time">时间</th><th data-i18n="event">事件</th>
  </tr></thead><tbody></tbody></table>
</section>

<script>
"use strict";
const TEXT = {
  zh: {title: "电子监察看板", staffId: "工号", password: "密码", signIn: "登录",
       signOn: "统一身份认证登录",
       signOnRefused: "统一身份认证未通过, 请重试或联系管理员",
       signOut: "退出", signedInAs: "已登录", period: "统计月份", load: "加载",
       red: "红牌 (已超期)", yellow: "黄牌 (临近期限)", application: "办件编号",
       matter: "事项", department: "部门", days: "超期/剩余天数",
       figures: "各部门按时办结率", received: "收件", completed: "办结",
       onTime: "按时办结率", actual: "平均实际天数", committed: "平均承诺天数",
       atMostOnce: "最多跑一次率", chart: "承诺与实际办理天数 (自然日)",
       search: "办件查询", find: "查询", time: "时间", event: "事件", over: "超期",
       left: "剩余", dayUnit: "天", own: "(整体时限)", none: "无", status: "状态",
       level: "监察", switchTo: "English", legal: "超法定时限 (已移送监察室)",
       onTimeExtended: "按延期后时限按时率", extensionRate: "延期占比",
       legalOverruns: "超法定时限", dueDates: "各部门期限",
       estimate: "预计，节假日安排公布后可能调整",
       cases: "督办件 (待部门书面反馈)", rectifications: "差评整改 (待答复)",
       caseCode: "编号", addressee: "督办对象", responseDue: "期限",
       rectificationRate: "差评整改率", rectificationOnTime: "整改按时率",
       openCases: "未结督办件", orders: "12345 工单", satisfaction: "回访满意率",
       workOrders: "12345 工单 (未办结)", kind: "类型",
       stage: "环节", temporalLink: "Temporal 流程", traceLink: "链路追踪",
       trend: "按时办结率 (近六个月)",
       auto: "每 30 秒自动刷新", browse: "办件检索",
       region: "区划代码", any: "全部", from: "提交日期自", to: "至",
       browseButton: "检索", more: "更多", export: "导出 CSV", submitted: "提交时间"},
  en: {title: "E-supervision dashboard", staffId: "Staff id", password: "Password",
       signIn: "Sign in", signOn: "Sign in with single sign-on",
       signOnRefused: "Single sign-on refused; try again or ask an administrator",
       signOut: "Sign out", signedInAs: "Signed in as", period: "Month",
       load: "Load", red: "Red (overdue)", yellow: "Yellow (due soon)",
       application: "Application", matter: "Matter", department: "Department",
       days: "Days over / left", figures: "On-time rate per department",
       received: "Received", completed: "Completed", onTime: "On-time rate",
       actual: "Average actual days", committed: "Average committed days",
       atMostOnce: "At-most-once rate", chart: "Committed vs actual days (natural)",
       search: "Find an application", find: "Find", time: "Time", event: "Event",
       over: "over by", left: "left", dayUnit: "days", own: "(overall limit)",
       none: "none", status: "Status", level: "Supervision", switchTo: "中文",
       legal: "Past the legal limit (escalated to the supervision office)",
       onTimeExtended: "On time (extended limit)", extensionRate: "Extension rate",
       legalOverruns: "Past the legal limit", dueDates: "Due dates",
       estimate: "estimate until the holiday notice is published",
       cases: "Supervision cases (awaiting the department's written response)",
       rectifications: "Rectifications of bad ratings (awaiting the answer)",
       caseCode: "Case", addressee: "Addressed to", responseDue: "Due",
       rectificationRate: "Rectification rate", rectificationOnTime: "Rectified on time",
       openCases: "Open cases", orders: "12345 work orders", satisfaction: "Callbacks satisfied",
       workOrders: "12345 work orders (open)", kind: "Kind",
       stage: "Stage", temporalLink: "Temporal workflow", traceLink: "Trace",
       trend: "On-time rate, last six months",
       auto: "Refresh every 30 s", browse: "Applications",
       region: "Region", any: "any", from: "Submitted from", to: "to",
       browseButton: "Search", more: "More", export: "Export CSV", submitted: "Submitted"},
};
const EVENTS = {
  ApplicationSubmitted: ["提交申请", "Submitted"],
  ApplicationAccepted: ["受理", "Accepted"],
  TaskStarted: ["部门开始审查", "Task started"],
  TaskAssigned: ["分派审查人员", "Task assigned"],
  TaskDecided: ["部门作出决定", "Task decided"],
  TaskCancelled: ["部门任务取消", "Task cancelled"],
  SpecialProcedureStarted: ["特别程序开始", "Special procedure started"],
  SpecialProcedureEnded: ["特别程序结束", "Special procedure ended"],
  TaskReturned: ["退回重审", "Returned for re-review"],
  DepartmentAdded: ["加签部门", "Department added"],
  DepartmentRemoved: ["减签部门", "Department removed"],
  ExtensionRequested: ["申请延期", "Extension requested"],
  ExtensionDecided: ["延期审批", "Extension decided"],
  ClocksResumed: ["补正后恢复计时", "Clocks resumed"],
  ELicenceRevoked: ["电子证照吊销", "E-licence revoked"],
  SupervisionAlert: ["电子监察预警", "Supervision alert"],
  SpecialProcedureOverrun: ["特别程序超期", "Special procedure over its maximum"],
  SupplementProvided: ["补正材料", "Supplement provided"],
  WithdrawalRequested: ["申请撤回", "Withdrawal requested"],
  RatingGiven: ["好差评", "Rating given"],
  ApplicationCompleted: ["办结", "Completed"],
  ApplicationRejected: ["不予许可", "Rejected"],
  ApplicationWithdrawn: ["已撤回", "Withdrawn"],
  NotificationSent: ["发送通知", "Notification sent"],
  SupervisionCaseOpened: ["督办件立案", "Supervision case opened"],
  SupervisionCaseEscalated: ["督办升级", "Supervision case escalated"],
  SupervisionCaseClosed: ["督办件办结 (部门书面反馈)", "Supervision case answered"],
  RectificationOpened: ["差评整改立案", "Rectification opened"],
  RectificationProgressed: ["差评整改进展", "Rectification step"],
  RectificationAnswered: ["差评整改答复", "Rectification answered"],
  RectificationClosed: ["差评整改办结", "Rectification closed"],
  RectificationAlert: ["差评整改预警", "Rectification alert"],
};
const STATUS = {
  unknown: ["未知", "unknown"], submitted: ["已提交", "submitted"],
  supplement_requested: ["待补正", "supplement requested"], accepted: ["已受理", "accepted"],
  accepted_with_deficiency: ["容缺受理", "accepted with deficiency"],
  refused: ["不予受理", "refused"], completed: ["已办结", "completed"],
  rejected: ["不予许可", "rejected"], withdrawn: ["已撤回", "withdrawn"],
  none: ["正常", "none"], yellow: ["黄牌", "yellow"], red: ["红牌", "red"],
  legal: ["超法定时限", "past the legal limit"],
  department_head: ["部门负责人", "department head"],
  supervision_office: ["监察室", "supervision office"],
  complaint: ["投诉", "complaint"], consultation: ["咨询", "consultation"],
  request: ["求助", "request"], sign: ["待签收", "to sign for"],
  reply: ["待答复", "to reply"], callback: ["待回访", "awaiting callback"],
};
const params = new URLSearchParams(location.search);
// Rows per page of the application search (`?page_size=`, 1 to 200).
const PAGE_SIZE = Math.min(200, Math.max(1, Number(params.get("page_size")) || 50));
let lang = params.get("lang") === "en" ? "en" : "zh";
const shown = {alerts: null, figures: null, timeline: null, status: null, cases: null,
               catalogue: null, trend: null};
const COLOURS = ["#4a78c2", "#c2644a", "#3f9a5b", "#8a5ac2", "#c2a04a", "#4ab0c2"];
// The operations search: its query, the rows fetched so far and the next page's cursor.
const found = {query: null, items: [], next: null};
let refreshing = null;
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key];
const named = (table, key) => (table[key] || [key, key])[lang === "zh" ? 0 : 1];
// A matter's or department's name from the catalogue, its code when it is not there.
function nameOf(kind, code) {
  const entry = shown.catalogue && shown.catalogue[kind][code];
  return entry ? (lang === "zh" ? entry.name_zh : entry.name_en) : code;
}

// The API with the session cookie (same origin); a problem's title and detail on error.
async function api(path, options) {
  const response = await fetch(path, {credentials: "same-origin", ...options});
  if (response.status === 204) return null;
  const body = await response.json();
  if (!response.ok) throw new Error(body.title + ": " + (body.detail || response.status));
  return body;
}

let session = null;
function renderSession() {
  $("signed-out").hidden = session !== null;
  $("signed-in").hidden = session === null;
  $("who").textContent = session
    ? t("signedInAs") + ": " + (session.display_name || session.staff_id)
      + " (" + nameOf("departments", session.department_code) + ")"
    : "";
}

async function signIn() {
  session = await api("/v1/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({staff_id: $("staff-id").value.trim(), password: $("password").value}),
  });
  $("password").value = "";
  renderSession();
  await load();
}

async function signOut() {
  await api("/v1/session", {method: "DELETE"});
  session = null;
  clearInterval(refreshing);
  $("auto").checked = false;
  renderSession();
}

// A table row; the first cell of `codeFirst` rows opens that application's detail.
function row(tbody, cells, className, codeFirst) {
  const tr = document.createElement("tr");
  cells.forEach((cell, i) => {
    const td = document.createElement("td");
    if (codeFirst && i === 0) {
      const link = document.createElement("a");
      link.className = "code";
      link.textContent = cell;
      link.addEventListener("click", guarded(() => openApplication(cell)));
      td.appendChild(link);
    } else {
      td.textContent = cell ?? "";
    }
    tr.appendChild(td);
  });
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
  return (seconds < 0 ? t("over") : t("left")) + " " + days + " " + t("dayUnit");
}

const percent = (value) => value === null ? "-" : (value * 100).toFixed(1) + "%";

function renderAlerts() {
  const body = shown.alerts;
  if (!body) return;
  for (const level of ["legal", "red", "yellow"]) {
    const tbody = clear(level + "-table");
    for (const a of body[level] || []) {
      row(tbody, [a.application_code, nameOf("matters", a.matter_code),
                  a.department_code ? nameOf("departments", a.department_code) : t("own"),
                  daysText(a.seconds_left)], level, true);
    }
    if (!(body[level] || []).length) row(tbody, [t("none")], "muted");
  }
}

function svg(name, attributes, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Two horizontal bars per department: committed (grey) above actual (blue).
function renderChart(groups) {
  const chart = $("days-chart");
  chart.replaceChildren();
  chart.setAttribute("aria-label", t("chart"));
  const rows = groups.filter((g) => g.average_days !== null || g.average_committed_days !== null);
  const labelWidth = 200, barArea = 380, rowHeight = 34;
  const most = Math.max(1, ...rows.flatMap((g) => [g.average_days || 0,
                                                  g.average_committed_days || 0]));
  chart.setAttribute("height", String(rows.length * rowHeight + 4));
  rows.forEach((g, i) => {
    const y = i * rowHeight + 2;
    const group = svg("g", {"data-group": g.group});
    group.appendChild(svg("text", {x: 0, y: y + 20, "font-size": 12},
                          nameOf("departments", g.group)));
    for (const [value, kind, colour, dy] of [
        [g.average_committed_days, "committed", "#bbb", 0],
        [g.average_days, "actual", "#4a78c2", 15]]) {
      const width = Math.max(1, (value || 0) / most * barArea);
      const bar = svg("rect", {x: labelWidth, y: y + dy, width, height: 13, fill: colour,
                               "data-kind": kind, "data-days": value ?? ""});
      bar.appendChild(svg("title", {}, t(kind) + ": " + (value ?? "-")));
      group.appendChild(bar);
      group.appendChild(svg("text", {x: labelWidth + width + 4, y: y + dy + 11,
                                     "font-size": 11}, value ?? "-"));
    }
    chart.appendChild(group);
  });
}

function renderFigures() {
  const body = shown.figures;
  if (!body) return;
  const tbody = clear("figures-table");
  for (const g of body.groups) {
    row(tbody, [nameOf("departments", g.group), g.received, g.completed, percent(g.on_time_rate),
                g.average_days ?? "-", g.average_committed_days ?? "-",
                percent(g.at_most_once_rate), percent(g.on_time_rate_extended),
                percent(g.extension_rate), g.legal_overruns, percent(g.rectification_rate),
                percent(g.rectification_on_time_rate), g.open_cases, g.work_orders,
                percent(g.satisfaction_rate)]);
  }
  renderChart(body.groups);
}

// A due date as the date in Beijing, marked when it is an estimate (provisional: past
// the published holiday calendar, so the year's notice may still move it).
const chinaDate = new Intl.DateTimeFormat("en-CA", {timeZone: "Asia/Shanghai"});
function dueText(task) {
  const day = chinaDate.format(new Date(task.due_at));
  return task.provisional ? day + " (" + t("estimate") + ")" : day;
}

// The application's workflow in Temporal's UI and its trace in the trace viewer, where
// the deployment gives their addresses (ONCEONLY_TRACKING_CONSOLE_*_URL).
function renderLinks() {
  const node = $("app-links");
  node.replaceChildren();
  if (!shown.status) return;
  const code = encodeURIComponent(shown.status.application_code);
  const {temporalUrl, tracesUrl} = document.body.dataset;
  const links = [];
  if (temporalUrl) links.push([t("temporalLink"), temporalUrl
    + "/namespaces/default/workflows/" + code]);
  if (tracesUrl) links.push([t("traceLink"), tracesUrl + "/search?service=intake-api&tags="
    + encodeURIComponent(JSON.stringify({"onceonly.application_code":
                                          shown.status.application_code}))]);
  for (const [label, href] of links) {
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = label;
    node.appendChild(link);
    node.appendChild(document.createTextNode(" "));
  }
}

function renderTimeline() {
  if (shown.status) {
    const s = shown.status;
    $("app-status").textContent = s.application_code + " · " + t("status") + ": "
      + named(STATUS, s.status) + " · " + t("level") + ": " + named(STATUS, s.supervision_level);
    const dues = Object.entries(s.tasks || {}).filter(([, task]) => task.due_at)
      .map(([department, task]) => department + " " + dueText(task));
    $("app-due").textContent = dues.length ? t("dueDates") + ": " + dues.join(" · ") : "";
  }
  renderLinks();
  if (!shown.timeline) return;
  const tbody = clear("timeline-table");
  for (const e of shown.timeline.entries) {
    row(tbody, [e.seq, e.time, named(EVENTS, e.type.split(".").pop())]);
  }
}

function renderCases() {
  const body = shown.cases;
  if (!body) return;
  const cases = clear("cases-table");
  for (const c of body.supervision_cases) {
    row(cases, [c.case_code, c.application_code, nameOf("departments", c.department_code),
                named(STATUS, c.addressee), daysText(c.seconds_left)],
        c.level > 1 ? "red" : "yellow");
  }
  if (!body.supervision_cases.length) row(cases, [t("none")], "muted");
  const rectifications = clear("rectifications-table");
  for (const r of body.rectifications) {
    row(rectifications, [r.case_code, r.application_code,
                         nameOf("departments", r.department_code),
                         named(STATUS, r.level), daysText(r.seconds_left)],
        r.level === "none" ? "" : r.level);
  }
  if (!body.rectifications.length) row(rectifications, [t("none")], "muted");
  const orders = clear("work-orders-table");
  for (const w of body.work_orders || []) {
    row(orders, [w.order_code, w.application_code, nameOf("departments", w.department_code),
                 named(STATUS, w.kind), named(STATUS, w.stage), daysText(w.seconds_left)],
        w.level === "none" ? "" : w.level);
  }
  if (!(body.work_orders || []).length) row(orders, [t("none")], "muted");
}

const chinaTime = new Intl.DateTimeFormat("sv-SE", {timeZone: "Asia/Shanghai",
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"});

function renderFound() {
  const tbody = clear("found-table");
  for (const a of found.items) {
    row(tbody, [a.application_code,
                a.region ? (lang === "zh" ? a.region.name_zh : a.region.name_en)
                  : (a.region_code || ""),
                a.matter ? (lang === "zh" ? a.matter.name_zh : a.matter.name_en) : "",
                named(STATUS, a.status), named(STATUS, a.supervision_level),
                a.departments.map((d) => lang === "zh" ? d.name_zh : d.name_en)
                  .join(lang === "zh" ? "、" : ", "),
                chinaTime.format(new Date(a.submitted_at))],
        a.supervision_level === "none" ? "" : a.supervision_level, true);
  }
  if (found.query && !found.items.length) row(tbody, [t("none")], "muted");
  $("more").disabled = !found.next;
  $("export").disabled = !found.items.length;
}

// The filters and catalogue choices, in the page's language.
function renderChoices() {
  for (const option of document.querySelectorAll("option[data-status]")) {
    option.textContent = named(STATUS, option.dataset.status);
  }
  if (!shown.catalogue) return;
  for (const [id, kind] of [["f-department", "departments"], ["f-matter", "matters"]]) {
    const select = $(id), chosen = select.value;
    select.replaceChildren(new Option(t("any"), ""));
    for (const code of Object.keys(shown.catalogue[kind]).sort()) {
      select.appendChild(new Option(nameOf(kind, code), code));
    }
    select.value = chosen;
  }
  // Divisions by name: typing 西湖 offers 杭州市西湖区, and choosing it fills in its code.
  $("divisions").replaceChildren(...Object.keys(shown.catalogue.divisions || {}).sort().map(
    (code) => new Option(nameOf("divisions", code), code)));
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("switchTo");
  renderSession();
  renderChoices();
  renderFound();
  renderAlerts();
  renderCases();
  renderFigures();
  renderTrend();
  renderTimeline();
}

// The on-time rate of each department month by month: one line each, a point per month
// with completed units (a month without any leaves a gap).
function renderTrend() {
  const trend = shown.trend, chart = $("trend-chart"), legend = $("trend-legend");
  chart.replaceChildren();
  legend.replaceChildren();
  chart.setAttribute("aria-label", t("trend"));
  if (!trend) return;
  const left = 40, width = 560, top = 10, height = 170;
  const x = (i) => left + (trend.months.length > 1 ? i * width / (trend.months.length - 1) : 0);
  const y = (rate) => top + (1 - rate) * height;
  for (const [label, rate] of [["100%", 1], ["50%", 0.5], ["0%", 0]]) {
    chart.appendChild(svg("line", {x1: left, x2: left + width, y1: y(rate), y2: y(rate),
                                   stroke: "#ddd"}));
    chart.appendChild(svg("text", {x: 0, y: y(rate) + 4, "font-size": 11}, label));
  }
  trend.months.forEach((month, i) => chart.appendChild(
    svg("text", {x: x(i) - 18, y: top + height + 20, "font-size": 11}, month)));
  Object.keys(trend.rates).sort().forEach((group, n) => {
    const rates = trend.rates[group], colour = COLOURS[n % COLOURS.length];
    const line = svg("g", {"data-group": group, "data-rates": rates.map((r) => r ?? "").join(",")});
    let points = [];
    const flush = () => {
      if (points.length > 1) {
        line.appendChild(svg("polyline", {points: points.join(" "), fill: "none",
                                          stroke: colour, "stroke-width": 2}));
      }
      points = [];
    };
    rates.forEach((rate, i) => {
      if (rate === null) { flush(); return; }
      points.push(x(i) + "," + y(rate));
      const dot = svg("circle", {cx: x(i), cy: y(rate), r: 3, fill: colour,
                                 "data-month": trend.months[i]});
      dot.appendChild(svg("title", {}, nameOf("departments", group) + " " + trend.months[i]
                                        + ": " + percent(rate)));
      line.appendChild(dot);
    });
    flush();
    chart.appendChild(line);
    const key = document.createElement("span");
    key.className = "swatch-" + (n % COLOURS.length);
    legend.appendChild(key);
    legend.appendChild(document.createTextNode(nameOf("departments", group)));
  });
}

// The month `back` months before the chosen one, as `YYYY-MM`.
function monthBefore(back) {
  const [year, month] = $("month").value.split("-").map(Number);
  const index = year * 12 + (month - 1) - back;
  return Math.floor(index / 12) + "-" + String(index % 12 + 1).padStart(2, "0");
}

async function loadTrend() {
  const months = [5, 4, 3, 2, 1, 0].map(monthBefore);
  const rates = {};
  const answers = await Promise.all(months.map((month) => {
    const query = new URLSearchParams({...period(month), group_by: "department"});
    return api("/v1/supervision/figures?" + query);
  }));
  answers.forEach((body, i) => {
    for (const g of body.groups) {
      if (g.on_time_rate === null) continue;
      rates[g.group] = rates[g.group] || months.map(() => null);
      rates[g.group][i] = g.on_time_rate;
    }
  });
  shown.trend = {months, rates};
  renderTrend();
}

// The chosen month (or `value`, `YYYY-MM`), as local times (the API reads a time
// without zone as China time).
function period(value) {
  const [year, month] = (value || $("month").value).split("-").map(Number);
  const pad = (n) => String(n).padStart(2, "0");
  const next = month === 12 ? [year + 1, 1] : [year, month + 1];
  return {from: year + "-" + pad(month) + "-01T00:00:00",
          to: next[0] + "-" + pad(next[1]) + "-01T00:00:00"};
}

async function load() {
  if (!shown.catalogue) {
    shown.catalogue = await api("/v1/catalogue/names");
    renderChoices();
  }
  shown.alerts = await api("/v1/supervision/alerts");
  renderAlerts();
  shown.cases = await api("/v1/supervision/cases");
  renderCases();
  const query = new URLSearchParams({...period(), group_by: "department"});
  shown.figures = await api("/v1/supervision/figures?" + query);
  renderFigures();
  await loadTrend();
}

function browseQuery() {
  const query = new URLSearchParams({limit: String(PAGE_SIZE)});
  for (const [id, name] of [["f-region", "region"], ["f-department", "department"],
                            ["f-matter", "matter"], ["f-level", "level"],
                            ["f-status", "status"]]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  // Whole days in China time; the end date is included (the API's `to` is exclusive).
  if ($("f-from").value) query.set("submitted_from", $("f-from").value + "T00:00:00");
  if ($("f-to").value) {
    const end = new Date($("f-to").value + "T00:00:00Z");
    end.setUTCDate(end.getUTCDate() + 1);
    query.set("submitted_to", end.toISOString().slice(0, 10) + "T00:00:00");
  }
  return query;
}

async function fetchPage() {
  const query = new URLSearchParams(found.query);
  if (found.next) query.set("cursor", found.next);
  const body = await api("/v1/applications?" + query);
  found.items.push(...body.items);
  found.next = body.next_cursor;
  renderFound();
}

async function browse() {
  found.query = browseQuery();
  found.items = [];
  found.next = null;
  await fetchPage();
}

// The rows shown, as the API gave them (codes and names, times in ISO 8601 with zone).
function exportCsv() {
  const header = ["application_code", "region_code", "matter_code", "matter_name_zh",
                  "status", "supervision_level", "departments", "submitted_at",
                  "last_event_at", "due_at"];
  const quote = (value) => '"' + String(value ?? "").replaceAll('"', '""') + '"';
  const lines = [header.join(",")];
  for (const a of found.items) {
    lines.push([a.application_code, a.region_code, a.matter && a.matter.code,
                a.matter && a.matter.name_zh, a.status, a.supervision_level,
                a.departments.map((d) => d.code).join(";"), a.submitted_at,
                a.last_event_at, a.due_at].map(quote).join(","));
  }
  // A BOM so that spreadsheet programs read the Chinese names as UTF-8.
  const blob = new Blob(["\\ufeff" + lines.join("\\r\\n") + "\\r\\n"], {type: "text/csv"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "applications.csv";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function openApplication(code) {
  $("code").value = code;
  await findApplication();
  $("detail").scrollIntoView();
}

async function findApplication() {
  const code = $("code").value.trim();
  if (!code) return;
  const path = "/v1/applications/" + encodeURIComponent(code);
  shown.timeline = null;
  shown.status = null;
  $("app-status").textContent = "";
  $("app-due").textContent = "";
  clear("timeline-table");
  shown.timeline = await api(path + "/timeline");
  shown.status = await api(path + "/status");
  renderTimeline();
}

function guarded(action) {
  return async () => {
    $("error").textContent = "";
    try { await action(); } catch (error) { $("error").textContent = error.message; }
  };
}

$("load").addEventListener("click", guarded(load));
$("sign-in").addEventListener("click", guarded(signIn));
$("password").addEventListener("keydown", (e) => { if (e.key === "Enter") $("sign-in").click(); });
$("sign-out").addEventListener("click", guarded(signOut));
$("browse").addEventListener("click", guarded(browse));
$("more").addEventListener("click", guarded(fetchPage));
$("export").addEventListener("click", exportCsv);
$("auto").addEventListener("change", () => {
  clearInterval(refreshing);
  refreshing = $("auto").checked ? setInterval(guarded(load), 30000) : null;
});
$("find").addEventListener("click", guarded(findApplication));
$("code").addEventListener("keydown", (e) => { if (e.key === "Enter") $("find").click(); });
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  applyLanguage();
});
const today = new Date();
$("month").value = today.getFullYear() + "-" + String(today.getMonth() + 1).padStart(2, "0");
applyLanguage();
// The single sign-on button where the provider is configured; its refusal, if sent back.
api("/v1/session/options").then((body) => { $("sign-on").hidden = !body.single_sign_on; })
  .catch(() => {});
if (new URLSearchParams(location.search).get("signin") === "refused") {
  $("error").textContent = t("signOnRefused");
}
// Already signed in (the cookie of an earlier visit): show who, and load.
api("/v1/session").then((body) => { session = body; renderSession(); guarded(load)(); })
  .catch(() => { session = null; renderSession(); });
</script>
</body>
</html>
"""


def dashboard_page(*, temporal_url: str = "", traces_url: str = "") -> str:
    """The page with the deployment's Temporal UI and trace viewer addresses (attributes
    of <body>, outside the script and style blocks whose hashes the CSP holds)."""
    return DASHBOARD_HTML.replace("{temporal_url}", html.escape(temporal_url.rstrip("/"))).replace(
        "{traces_url}", html.escape(traces_url.rstrip("/"))
    )


def _inline_hashes(tag: str) -> str:
    """CSP sources allowing exactly the page's own inline `<tag>` blocks."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", DASHBOARD_HTML, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


# The page loads nothing but itself: its one script and one style block (by hash, so an
# injected one would not run) and the API's JSON on the same origin. No style attributes
# (the legend's colours are classes), no framing, no forms posted anywhere.
DASHBOARD_CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_inline_hashes('script')}",
        f"style-src {_inline_hashes('style')}",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
