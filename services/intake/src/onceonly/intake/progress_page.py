"""The citizens' mobile progress page (H5, 办件进度): static HTML whose script calls
`GET /v1/progress` on the same origin.

Opened from the link in the acceptance SMS (`/progress/{code}`); an integrator's link
may carry the lookup token in the fragment (`#t=TOKEN`), which never reaches a server
log or a Referer. Without a token the applicant types the mobile's last four digits.
The page holds no data itself: the language (`?lang=`, else Accept-Language, else
Chinese) is the one thing the server sets, in the `<html>` tag, outside the inline
blocks whose hashes the Content-Security-Policy allows. Text from the API goes in with
textContent, never as HTML. Dates past the published holiday notices are shown as
estimates.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Literal

Language = Literal["zh", "en"]

_PAGE = """<!doctype html>
<html lang="__HTML_LANG__" data-lang="__LANG__">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>办件进度 / Application progress</title>
<style>
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; color: #1f2328; background: #f4f6f8; }
main { max-width: 480px; margin: 0 auto; padding: 12px 14px 32px; }
header { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
h1 { font-size: 1.25rem; margin: 8px 0; }
h2 { font-size: 1rem; margin: 0 0 8px; color: #444; }
button { font: inherit; border-radius: 8px; border: 1px solid #1a62c6; padding: 8px 14px;
         background: #1a62c6; color: #fff; min-height: 44px; }
button.plain { background: #fff; color: #1a62c6; padding: 4px 10px; min-height: 36px; }
.card { background: #fff; border-radius: 12px; padding: 14px; margin: 12px 0;
        box-shadow: 0 1px 2px rgba(0, 0, 0, .08); }
.code { font-family: ui-monospace, monospace; color: #555; word-break: break-all; }
.status { display: inline-block; padding: 2px 10px; border-radius: 999px;
          background: #e7f0fd; color: #1a62c6; font-weight: 600; }
.status.done { background: #e6f4ea; color: #1e7b34; }
.status.stop { background: #fdecea; color: #b3261e; }
.status.wait { background: #fff4e0; color: #8a5300; }
.date { font-size: 1.6rem; font-weight: 700; margin: 4px 0; }
.estimate { display: inline-block; font-size: .8rem; font-weight: 600; color: #8a5300;
            background: #fff4e0; border-radius: 6px; padding: 0 6px; margin-left: 6px;
            vertical-align: middle; }
.note { color: #666; font-size: .9rem; margin: 4px 0 0; }
.days { font-weight: 600; } .overdue { color: #b3261e; }
ul, ol { margin: 0; padding-left: 1.2rem; } li { margin: 4px 0; }
.due { color: #b3261e; font-weight: 600; }
.steps { list-style: none; padding: 0; } .steps li { border-left: 3px solid #c9d7ee;
         padding: 0 0 8px 10px; margin: 0; } .steps li:first-child { border-color: #1a62c6; }
.steps time { display: block; color: #777; font-size: .85rem; }
label { display: block; margin-bottom: 8px; }
input { font: inherit; width: 8em; padding: 8px; border: 1px solid #aab; border-radius: 8px;
        letter-spacing: .3em; min-height: 44px; }
.error { color: #b3261e; } [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
<header>
  <h1 id="title">办件进度</h1>
  <button id="lang" class="plain" type="button">English</button>
</header>
<p class="code" id="code"></p>
<form id="ask" class="card" hidden>
  <label for="last4" id="last4-label">请输入申请时所留手机号码的后四位</label>
  <input id="last4" inputmode="numeric" autocomplete="off" maxlength="4" pattern="[0-9]{4}"
         required>
  <button id="go" type="submit">查询</button>
  <p id="ask-note" class="note">为保护您的信息，连续输错将暂时锁定查询。</p>
</form>
<p id="error" class="error" role="alert"></p>
<div id="answer" hidden>
  <section class="card">
    <h2 id="matter"></h2>
    <span id="status" class="status"></span>
  </section>
  <section class="card" id="when"></section>
  <section class="card" id="provide" hidden></section>
  <section class="card" id="deciding" hidden></section>
  <section class="card" id="steps" hidden></section>
  <section class="card" id="lookups" hidden></section>
</div>
</main>
<script>
"use strict";
const TEXT = {
  zh: {
    title: "办件进度", switchTo: "English", code: "办件编号：",
    ask: "请输入申请时所留手机号码的后四位", go: "查询",
    askNote: "为保护您的信息，连续输错将暂时锁定查询。",
    notFound: "未找到该办件，或手机号码后四位不正确。",
    limited: "查询过于频繁，请 {s} 秒后再试。", invalid: "请输入 4 位数字。",
    failed: "暂时无法查询，请稍后再试。",
    status: {
      submitted: "已提交，待受理", supplement_requested: "待补正材料", accepted: "审批中",
      accepted_with_deficiency: "容缺受理，审批中", refused: "不予受理", completed: "已办结",
      rejected: "未获批准", withdrawn: "已撤回"
    },
    when: "预计办结时间", committed: "承诺办结日期", expected: "预计办结日期",
    estimate: "估计", estimateNote: "该年度节假日安排尚未公布，此日期为估算，公布后可能调整。",
    left: "还剩 {n} 个工作日", dueToday: "今天到期", overdue: "已超期 {n} 个工作日",
    paused: "计时暂停中（补正材料或特别程序期间不计时），办结日期将相应顺延。",
    noDate: {
      submitted: "受理后将告知预计办结日期。",
      supplement_requested: "请补齐材料，受理后开始计时。",
      completed: "已办结。", refused: "不予受理。", rejected: "审批未通过。", withdrawn: "已撤回。",
      other: "暂无预计办结日期。"
    },
    provide: "您还需提交", window: "窗口受理时要求", by: "请于 {d} 前提交",
    beforeCompletion: "请在办结前提交", askedBy: "{d}要求",
    deciding: "正在审批的部门",
    state: { deciding: "审批中", waiting_for_applicant: "等待您补正",
             special_procedure: "特别程序中（不计时）" },
    steps: "最近进展", lookups: "为您核验的信息（免提交证明）",
    confirmed: "已确认", denied: "未确认"
  },
  en: {
    title: "Application progress", switchTo: "中文", code: "Application code: ",
    ask: "Enter the last four digits of the mobile number you applied with", go: "Look up",
    askNote: "To protect your data, lookups are locked for a while after repeated wrong digits.",
    notFound: "No such application, or the digits do not match.",
    limited: "Too many lookups: try again in {s} seconds.", invalid: "Enter four digits.",
    failed: "The lookup is not available right now. Please try again later.",
    status: {
      submitted: "Submitted, awaiting acceptance", supplement_requested: "Materials requested",
      accepted: "In approval", accepted_with_deficiency: "In approval (items to follow)",
      refused: "Not accepted", completed: "Completed", rejected: "Not approved",
      withdrawn: "Withdrawn"
    },
    when: "When will it be done?", committed: "Committed completion date",
    expected: "Expected completion date", estimate: "estimate",
    estimateNote: "That year's public holidays are not published yet:"
      + " this date is an estimate and may move.",
    left: "{n} working days left", dueToday: "Due today", overdue: "{n} working days overdue",
    paused: "The clock is paused (while materials are awaited or a special procedure runs);"
      + " the date moves later accordingly.",
    noDate: {
      submitted: "You will be told the expected date once the application is accepted.",
      supplement_requested: "Provide the materials below; the clock starts once accepted.",
      completed: "Completed.", refused: "Not accepted.", rejected: "Not approved.",
      withdrawn: "Withdrawn.", other: "No expected date yet."
    },
    provide: "What you still need to provide", window: "Asked at acceptance",
    by: "Provide by {d}", beforeCompletion: "Provide before completion", askedBy: "Asked by {d}",
    deciding: "Departments still deciding",
    state: { deciding: "deciding", waiting_for_applicant: "waiting for your materials",
             special_procedure: "in a special procedure (not counted)" },
    steps: "Latest steps", lookups: "Checked for you (no certificates needed)",
    confirmed: "confirmed", denied: "not confirmed"
  }
};
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec"];
const $ = (id) => document.getElementById(id);
let lang = document.documentElement.dataset.lang === "en" ? "en" : "zh";
let answer = null;
const code = decodeURIComponent(location.pathname.split("/").pop() || "");
const token = new URLSearchParams(location.hash.slice(1)).get("t");

const t = (key) => TEXT[lang][key];
const fill = (text, values) => text.replace(/\\{(\\w)\\}/g, (_, k) => String(values[k]));
function add(parent, tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  parent.appendChild(node);
  return node;
}
function name(item) { return lang === "zh" ? item.name_zh : item.name_en; }
function day(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return lang === "zh" ? y + "年" + m + "月" + d + "日" : d + " " + MONTHS[m - 1] + " " + y;
}
function moment(iso) {
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit"
  }).format(new Date(iso));
}
function section(id, title) {
  const node = $(id);
  node.replaceChildren();
  add(node, "h2", title);
  return node;
}

function renderWhen(body) {
  const node = section("when", t("when"));
  const expected = body.expected_completion;
  if (!expected) {
    const noDate = t("noDate");
    add(node, "p", noDate[body.status] || noDate.other, "note");
    return;
  }
  const label = add(node, "div", expected.provisional ? t("expected") : t("committed"));
  label.id = "when-label";
  const date = add(node, "div", day(expected.date), "date");
  date.id = "when-date";
  if (expected.provisional) add(date, "span", t("estimate"), "estimate").id = "when-estimate";
  const n = expected.working_days_left;
  const left = n > 0 ? fill(t("left"), { n }) : n === 0 ? t("dueToday")
    : fill(t("overdue"), { n: -n });
  add(node, "div", left, n < 0 ? "days overdue" : "days").id = "when-left";
  if (expected.provisional) add(node, "p", t("estimateNote"), "note");
  if (expected.paused) add(node, "p", t("paused"), "note");
}

function renderProvide(body) {
  const node = $("provide");
  node.hidden = body.to_provide.length === 0;
  if (node.hidden) return;
  section("provide", t("provide"));
  for (const request of body.to_provide) {
    const who = request.department ? fill(t("askedBy"), { d: name(request.department) })
      : t("window");
    add(node, "div", who, "note");
    const list = add(node, "ul");
    for (const material of request.materials) add(list, "li", name(material));
    add(node, "div", request.due_date ? fill(t("by"), { d: day(request.due_date) })
      : t("beforeCompletion"), "due");
  }
}

function renderDeciding(body) {
  const node = $("deciding");
  node.hidden = body.deciding.length === 0;
  if (node.hidden) return;
  const list = add(section("deciding", t("deciding")), "ul");
  for (const item of body.deciding) {
    add(list, "li", name(item.department) + " — " + t("state")[item.state]);
  }
}

function renderSteps(body) {
  const node = $("steps");
  node.hidden = body.last_steps.length === 0;
  if (node.hidden) return;
  const list = add(section("steps", t("steps")), "ol", undefined, "steps");
  for (const step of body.last_steps) {
    const item = add(list, "li");
    const time = add(item, "time", moment(step.at));
    time.dateTime = step.at;
    add(item, "span", lang === "zh" ? step.zh : step.en);
  }
}

function renderLookups(body) {
  const node = $("lookups");
  node.hidden = body.lookups.length === 0;
  if (node.hidden) return;
  const list = add(section("lookups", t("lookups")), "ul");
  for (const item of body.lookups) {
    const reason = lang === "zh" ? item.reason_zh : item.reason;
    add(list, "li", moment(item.checked_at) + " · " + (reason || item.registry) + " · "
      + (item.confirmed ? t("confirmed") : t("denied")));
  }
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.documentElement.dataset.lang = lang;
  $("title").textContent = t("title");
  document.title = t("title");
  $("lang").textContent = t("switchTo");
  $("code").textContent = t("code") + code;
  $("last4-label").textContent = t("ask");
  $("go").textContent = t("go");
  $("ask-note").textContent = t("askNote");
  if (!answer) return;
  $("matter").textContent = lang === "zh" ? answer.matter.name_zh : answer.matter.name_en;
  const status = $("status");
  status.textContent = t("status")[answer.status] || answer.status;
  status.className = "status " + ({ completed: "done", refused: "stop", rejected: "stop",
    withdrawn: "stop", supplement_requested: "wait" }[answer.status] || "");
  renderWhen(answer);
  renderProvide(answer);
  renderDeciding(answer);
  renderSteps(answer);
  renderLookups(answer);
}

async function lookup(secret) {
  $("error").textContent = "";
  const query = new URLSearchParams({ code, ...secret });
  let response;
  try {
    response = await fetch("/v1/progress?" + query, {
      headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store"
    });
  } catch (e) {
    $("error").textContent = t("failed");
    return false;
  }
  if (response.ok) {
    answer = await response.json();
    $("ask").hidden = true;
    $("answer").hidden = false;
    render();
    return true;
  }
  if (response.status === 404) $("error").textContent = t("notFound");
  else if (response.status === 429) {
    const wait = Number(response.headers.get("Retry-After")) || 60;
    $("error").textContent = fill(t("limited"), { s: wait });
  } else if (response.status === 422) $("error").textContent = t("invalid");
  else $("error").textContent = t("failed");
  return false;
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const digits = $("last4").value.trim();
  if (!/^[0-9]{4}$/.test(digits)) { $("error").textContent = t("invalid"); return; }
  lookup({ last4: digits });
});
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  const url = new URL(location.href);
  url.searchParams.set("lang", lang);
  history.replaceState(null, "", url);
  render();
});
render();
(async () => {
  if (token && /^[A-Za-z0-9_-]{22}$/.test(token) && await lookup({ token })) return;
  $("ask").hidden = false;
})();
</script>
</body>
</html>
"""


def _inline_hashes(tag: str) -> str:
    """CSP sources allowing exactly the page's own inline `<tag>` blocks."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", _PAGE, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests)


# The page loads nothing but itself: its one script and one style block (by hash, so an
# injected one would not run) and the lookup's JSON on the same origin. No images, no
# framing, no form posted anywhere (the script sends the digits with fetch).
PROGRESS_PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_inline_hashes('script')}",
        f"style-src {_inline_hashes('style')}",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def progress_page(language: Language) -> str:
    """The page in `language` (the script switches without a reload)."""
    html_lang = "zh-CN" if language == "zh" else "en"
    return _PAGE.replace("__HTML_LANG__", html_lang, 1).replace("__LANG__", language, 1)


def page_language(asked: str | None, accept_language: str | None) -> Language:
    """`?lang=` when it is zh or en; else the first of zh and en by the Accept-Language
    weights (ties in the header's order); else Chinese."""
    if asked in ("zh", "en"):
        return asked  # type: ignore[return-value]
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-", 1)[0]
        if base not in ("zh", "en"):
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight <= 0:
            continue
        candidate = (-weight, position, base)
        if best is None or candidate < best:
            best = candidate  # type: ignore[assignment]
    return best[2] if best is not None else "zh"
