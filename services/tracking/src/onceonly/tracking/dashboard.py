"""The supervision dashboard page (电子监察看板): static HTML whose script calls the API.

No data is in the page itself; the user pastes a staff token (kept in this tab's
sessionStorage only). Chinese by default; English with the language switch or
`?lang=en`, and switching re-renders what is on screen. All text from the API is
inserted with textContent, never as HTML.
"""

from __future__ import annotations

import base64
import hashlib
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
#error { color: #b00020; } input { margin-right: .5rem; } .muted { color: #777; }
</style>
</head>
<body>
<header>
  <h1 data-i18n="title">电子监察看板</h1>
  <label><span data-i18n="token">工作人员令牌</span>
    <input id="token" type="password" size="40" autocomplete="off"></label>
  <label><span data-i18n="period">统计月份</span> <input id="month" type="month"></label>
  <button id="load" data-i18n="load">加载</button>
  <button id="lang">English</button>
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
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="chart">承诺与实际办理天数 (自然日)</h2>
  <p class="legend"><span class="committed"></span><b data-i18n="committed">平均承诺天数</b>
    <span class="actual"></span><b data-i18n="actual">平均实际天数</b></p>
  <svg id="days-chart" role="img" width="640" height="0"></svg>
</section>

<section>
  <h2 data-i18n="cases">督办件 (待部门书面反馈)</h2>
  <table id="cases-table"><thead><tr>
    <th data-i18n="caseCode">督办件编号</th><th data-i18n="application">办件编号</th>
    <th data-i18n="department">部门</th><th data-i18n="addressee">督办对象</th>
    <th data-i18n="responseDue">反馈期限</th>
  </tr></thead><tbody></tbody></table>
  <h2 data-i18n="rectifications">差评整改 (待答复)</h2>
  <table id="rectifications-table"><thead><tr>
    <th data-i18n="caseCode">督办件编号</th><th data-i18n="application">办件编号</th>
    <th data-i18n="department">部门</th><th data-i18n="level">监察</th>
    <th data-i18n="responseDue">反馈期限</th>
  </tr></thead><tbody></tbody></table>
</section>

<section>
  <h2 data-i18n="search">办件查询</h2>
  <input id="code" size="30"><button id="find" data-i18n="find">查询</button>
  <p id="app-status"></p>
  <p id="app-due"></p>
  <table id="timeline-table"><thead><tr>
    <th>#</th><th data-i18n="time">时间</th><th data-i18n="event">事件</th>
  </tr></thead><tbody></tbody></table>
</section>

<script>
"use strict";
const TEXT = {
  zh: {title: "电子监察看板", token: "工作人员令牌", period: "统计月份", load: "加载",
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
       openCases: "未结督办件"},
  en: {title: "E-supervision dashboard", token: "Staff token", period: "Month",
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
       openCases: "Open cases"},
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
};
const params = new URLSearchParams(location.search);
let lang = params.get("lang") === "en" ? "en" : "zh";
const shown = {alerts: null, figures: null, timeline: null, status: null, cases: null};
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key];
const named = (table, key) => (table[key] || [key, key])[lang === "zh" ? 0 : 1];

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
    td.textContent = cell ?? "";
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
  return (seconds < 0 ? t("over") : t("left")) + " " + days + " " + t("dayUnit");
}

const percent = (value) => value === null ? "-" : (value * 100).toFixed(1) + "%";

function renderAlerts() {
  const body = shown.alerts;
  if (!body) return;
  for (const level of ["legal", "red", "yellow"]) {
    const tbody = clear(level + "-table");
    for (const a of body[level] || []) {
      row(tbody, [a.application_code, a.matter_code, a.department_code || t("own"),
                  daysText(a.seconds_left)], level);
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
    group.appendChild(svg("text", {x: 0, y: y + 20, "font-size": 12}, g.group));
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
    row(tbody, [g.group, g.received, g.completed, percent(g.on_time_rate),
                g.average_days ?? "-", g.average_committed_days ?? "-",
                percent(g.at_most_once_rate), percent(g.on_time_rate_extended),
                percent(g.extension_rate), g.legal_overruns, percent(g.rectification_rate),
                percent(g.rectification_on_time_rate), g.open_cases]);
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

function renderTimeline() {
  if (shown.status) {
    const s = shown.status;
    $("app-status").textContent = s.application_code + " · " + t("status") + ": "
      + named(STATUS, s.status) + " · " + t("level") + ": " + named(STATUS, s.supervision_level);
    const dues = Object.entries(s.tasks || {}).filter(([, task]) => task.due_at)
      .map(([department, task]) => department + " " + dueText(task));
    $("app-due").textContent = dues.length ? t("dueDates") + ": " + dues.join(" · ") : "";
  }
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
    row(cases, [c.case_code, c.application_code, c.department_code,
                named(STATUS, c.addressee), daysText(c.seconds_left)],
        c.level > 1 ? "red" : "yellow");
  }
  if (!body.supervision_cases.length) row(cases, [t("none")], "muted");
  const rectifications = clear("rectifications-table");
  for (const r of body.rectifications) {
    row(rectifications, [r.case_code, r.application_code, r.department_code,
                         named(STATUS, r.level), daysText(r.seconds_left)],
        r.level === "none" ? "" : r.level);
  }
  if (!body.rectifications.length) row(rectifications, [t("none")], "muted");
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("switchTo");
  renderAlerts();
  renderCases();
  renderFigures();
  renderTimeline();
}

// The chosen month, as local times (the API reads a time without zone as China time).
function period() {
  const [year, month] = $("month").value.split("-").map(Number);
  const pad = (n) => String(n).padStart(2, "0");
  const next = month === 12 ? [year + 1, 1] : [year, month + 1];
  return {from: year + "-" + pad(month) + "-01T00:00:00",
          to: next[0] + "-" + pad(next[1]) + "-01T00:00:00"};
}

async function load() {
  shown.alerts = await api("/v1/supervision/alerts");
  renderAlerts();
  shown.cases = await api("/v1/supervision/cases");
  renderCases();
  const query = new URLSearchParams({...period(), group_by: "department"});
  shown.figures = await api("/v1/supervision/figures?" + query);
  renderFigures();
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
$("find").addEventListener("click", guarded(findApplication));
$("code").addEventListener("keydown", (e) => { if (e.key === "Enter") $("find").click(); });
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  applyLanguage();
});
const today = new Date();
$("month").value = today.getFullYear() + "-" + String(today.getMonth() + 1).padStart(2, "0");
$("token").value = sessionStorage.getItem("onceonly-token") || "";
applyLanguage();
</script>
</body>
</html>
"""


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
