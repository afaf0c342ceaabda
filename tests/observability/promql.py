"""The metric names a PromQL expression reads, for checking alert rules and dashboards
against what the processes export.

Not a PromQL parser: a tokenizer that knows which identifiers are not metric names
(functions, which a `(` follows; aggregations; keywords; label names inside `{...}`
and in the lists of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`) and
which text is no identifier at all (strings, `[...]` ranges, numbers, durations, Grafana
variables). It refuses what it cannot read (unbalanced brackets, a stray character), so a
typo in an expression fails the test instead of passing unseen.
"""

from __future__ import annotations

import re

# A Grafana variable ($__rate_interval, ${name}, $name): in a range it is a duration, in
# a label matcher it sits inside a string.
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{[A-Za-z_][A-Za-z0-9_:]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
                (?:[smhdwy]|ms)?(?:\d+(?:[smhdwy]|ms))*)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<operator>==|!=|>=|<=|=~|!~|[-+*/%^<>=,@:])
  | (?P<open>[({\[])
  | (?P<close>[)}\]])
    """,
    re.VERBOSE,
)
_PAIRS = {"(": ")", "{": "}", "[": "]"}
# Followed by a parenthesised list of label names, not of expressions.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Aggregations may put their `by (...)` between the name and the parenthesis.
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"}
    | {"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)
KEYWORDS = (
    LABEL_LIST_KEYWORDS | AGGREGATIONS | {"and", "or", "unless", "bool", "offset", "inf", "nan"}
)
# Suffixes of a histogram's (or summary's) series; the family is named without them.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


class PromQLSyntaxError(ValueError):
    pass


def _tokens(expression: str) -> list[tuple[str, str]]:
    text = _GRAFANA_VARIABLE.sub("1m", expression)
    found = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            stray = text[position : position + 20]
            raise PromQLSyntaxError(f"cannot read {stray!r} in {expression!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
        position = match.end()
    return found


def metric_names(expression: str) -> set[str]:
    """The metric names `expression` selects (as written: a histogram's `_bucket` too)."""
    tokens = _tokens(expression)
    names: set[str] = set()
    stack: list[str] = []
    skip_until_depth: int | None = None  # inside `{...}`, `[...]` or a label list
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "open":
            if skip_until_depth is None and text in "{[":
                skip_until_depth = len(stack)
            if (
                skip_until_depth is None
                and text == "("
                and index > 0
                and tokens[index - 1][1] in LABEL_LIST_KEYWORDS
            ):
                skip_until_depth = len(stack)
            stack.append(text)
            continue
        if kind == "close":
            if not stack or _PAIRS[stack.pop()] != text:
                raise PromQLSyntaxError(f"unbalanced {text!r} in {expression!r}")
            if skip_until_depth is not None and len(stack) == skip_until_depth:
                skip_until_depth = None
            continue
        if skip_until_depth is not None or kind != "identifier":
            continue
        if text.lower() in KEYWORDS or following == "(":
            continue  # a keyword, a function or an aggregation
        names.add(text)
    if stack:
        raise PromQLSyntaxError(f"unclosed {stack[-1]!r} in {expression!r}")
    return names


def family(name: str) -> str:
    """The metric family a series name belongs to: `x_bucket`, `x_sum`, `x_count` → `x`."""
    for suffix in SERIES_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
