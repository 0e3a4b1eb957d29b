"""The status page's HTML. Pure: what the board holds in, markup out; every text from a meter or a user is escaped.

A meter's card has a live part (`live_part`: availability, last reading, power and energy, the LCD, breaker, alarms,
every reading), rendered the same way for the first page and for each event of the stream, and a fixed part: what
the meter is and its controls. The controls are the command table's (gateway/command_table.py): the breaker's
actions are its parser's choices, the tariff's options its select's; only commands the meter's source carries are
offered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from gateway.command_table import COMMANDS_BY_NAME, tariff_options
from gateway.command_values import Choice
from gateway.sources.base import MeterInfo
from gateway.web.board import Board
from gateway.web.lcd_svg import lcd_svg
from omnipower.registers import REGISTERS_BY_KEY

__all__ = ["PAGE_COMMANDS", "PageView", "live_part", "login_page", "page"]

PAGE_COMMANDS = ("breaker", "tariff")  # the controls the page offers (issue 16: breaker and tariff)
HEADLINE = ("p_plus", "p_minus", "a_plus", "a_minus")  # live power and energy, big


@dataclass(frozen=True, slots=True)
class PageView:
    base: str  # the path prefix the page is served under ("" or the ingress path)
    meters: tuple[MeterInfo, ...]
    username: str | None  # logged in as
    csrf: str | None
    read_only: bool  # no credentials configured


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _head(base: str, title: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><link rel="stylesheet" href="{_attr(base)}/static/page.css"></head>')


def page(view: PageView, board: Board) -> str:
    base = view.base
    out = [_head(base, "OMNIPOWER gateway"), f'<body data-base="{_attr(base)}"><header><h1>OMNIPOWER gateway</h1>',
           f'<span class="meta">{len(view.meters)} meter{"s" if len(view.meters) != 1 else ""}</span>']
    if view.read_only:
        out.append('<span class="who">read-only</span></header>'
                   '<p class="notice" id="notice">Read-only: no <code>web.username</code> and '
                   "<code>web.password</code> are configured, so the breaker and tariff cannot be operated from this "
                   "page.</p>")
    elif view.username is None:
        out.append(f'<span class="who"><a href="{_attr(base)}/login" id="login-link">Log in</a> to operate the '
                   "breaker and tariff</span></header>")
    else:
        out.append(f'<form class="who" method="post" action="{_attr(base)}/logout">'
                   f'<input type="hidden" name="csrf" value="{_attr(view.csrf or "")}">'
                   f'{escape(view.username)} · <button class="link" id="logout">Log out</button></form></header>')
    out.append("<main>")
    for info in view.meters:
        out += _card(info, view, board)
    out.append(f'</main><script src="{_attr(base)}/static/page.js"></script></body></html>')
    return "".join(out)


def _card(info: MeterInfo, view: PageView, board: Board) -> Iterator[str]:
    mid = info.meter_id
    yield f'<article class="meter" id="meter-{_attr(mid)}" data-meter="{_attr(mid)}">'
    yield f"<h2>{escape(info.name or mid)}</h2>"
    yield (f'<div class="meta">id <code>{escape(mid)}</code> · source <b data-field="source">{escape(info.source)}'
           f"</b> · {escape(info.model)} · serial {escape(info.serial_number)}</div>")
    yield f'<div class="live" data-live="{_attr(mid)}">{live_part(info, board)}</div>'
    yield from _controls(info, view)
    yield "</article>"


def _controls(info: MeterInfo, view: PageView) -> Iterator[str]:
    offered = [name for name in PAGE_COMMANDS if name in info.commands]
    if not offered:
        yield f'<div class="controls"><span class="meta">A {escape(info.source)} meter takes no commands.</span></div>'
        return
    can = view.csrf is not None
    disabled = "" if can else " disabled"
    action = f"{_attr(view.base)}/meters/{_attr(info.meter_id)}/command"
    hidden = f'<input type="hidden" name="csrf" value="{_attr(view.csrf or "")}">'
    yield '<div class="controls"><h3>Controls</h3>'
    for name in offered:
        spec = COMMANDS_BY_NAME[name]
        yield f'<form method="post" action="{action}" data-command="{name}">{hidden}'
        yield f'<input type="hidden" name="command" value="{name}"><span>{escape(name.capitalize())}</span>'
        if isinstance(spec.parse, Choice):  # one button per value the command takes
            for option in spec.parse.options:
                yield (f'<button name="value" value="{_attr(option)}" data-value="{_attr(option)}"{disabled}>'
                       f"{escape(option)}</button>")
        else:  # the tariff: the options of its select, as Home Assistant shows them
            options = "".join(f'<option value="{_attr(o)}">{escape(o)}</option>'
                              for o in tariff_options(info.registers))
            yield f'<select name="value"{disabled}>{options}</select><button{disabled}>Set</button>'
        yield "</form>"
    yield f'<div class="result" role="status" data-result="{_attr(info.meter_id)}"></div>'
    if not can:
        why = "this page is read-only" if view.read_only else "log in first"
        yield f'<div class="meta">Controls are disabled: {why}.</div>'
    yield "</div>"


def _shown(key: str, value: Any) -> str:
    """A reading with its unit (from the register table), as the state topic has it."""
    reg = REGISTERS_BY_KEY.get(key)
    if value is None:
        return "–"
    if reg is not None and isinstance(value, int | float) and not isinstance(value, bool):
        text = f"{value:.{reg.decimals}f}"
        return f"{text} {reg.unit}" if reg.unit else text
    return str(value)


def live_part(info: MeterInfo, board: Board) -> str:
    mid = info.meter_id
    availability = (board.payload(mid, "availability") or {}).get("state")
    state = board.payload(mid, "state") or {}
    display = board.payload(mid, "display")
    breaker = board.payload(mid, "breaker")
    alarms = board.payload(mid, "alarms")
    badge = availability if availability in ("online", "offline") else "unknown"
    out = [f'<span class="badge {badge}" data-field="availability">{badge}</span> '
           f'<span class="meta">last reading <time data-field="time">{escape(str(state.get("time", "–")))}</time>'
           "</span>", '<div class="figures">']
    for key in HEADLINE:
        reg = REGISTERS_BY_KEY[key]
        out.append(f'<div class="figure"><span class="label">{escape(reg.name)}</span>'
                   f'<span class="value" data-reading="{key}">{escape(_shown(key, state.get(key)))}</span></div>')
    out.append("</div>")
    if display is not None:
        out.append(lcd_svg(display, f"lcd-{mid}"))
    else:
        out.append(f'<p class="no-lcd">No display: a {escape(info.source)} meter does not report what its LCD '
                   "shows.</p>")
    out.append('<div class="row"><section><h3>Breaker</h3>')
    out += _breaker(breaker)
    out.append("</section><section><h3>Active alarms</h3>")
    out += _alarms(alarms)
    out.append("</section></div>")
    out += _readings(state)
    return "".join(out)


def _breaker(breaker: Mapping[str, Any] | None) -> Iterator[str]:
    if breaker is None:
        yield '<p class="meta" data-field="breaker">not reported</p>'
        return
    yield (f'<p><b data-field="breaker">{escape(str(breaker.get("state")))}</b> '
           f'<span class="meta">({escape(str(breaker.get("reason")))}, since {escape(str(breaker.get("time")))})'
           "</span></p>")


def _alarms(alarms: Mapping[str, Any] | None) -> Iterator[str]:
    active = alarms.get("active") if alarms is not None else None
    if not isinstance(active, list) or not active:
        yield f'<p class="meta" data-field="alarms">{"none" if alarms is not None else "not reported"}</p>'
        return
    yield '<ul class="alarms" data-field="alarms">'
    for alarm in active:
        if isinstance(alarm, dict):
            phase = f" L{alarm['phase']}" if alarm.get("phase") is not None else ""
            yield (f'<li data-alarm="{_attr(str(alarm.get("type")))}">{escape(str(alarm.get("type")))}'
                   f'{escape(phase)} <span class="meta">since {escape(str(alarm.get("since")))}</span></li>')
    yield "</ul>"


def _readings(state: Mapping[str, Any]) -> Iterator[str]:
    if not state:
        return
    yield f'<details><summary>All readings ({len(state)})</summary><table class="readings">'
    for key, value in state.items():
        reg = REGISTERS_BY_KEY.get(key)
        name = reg.name if reg is not None else key
        yield (f'<tr><td>{escape(name)}</td><td><code>{escape(key)}</code></td>'
               f'<td class="num">{escape(_shown(key, value))}</td></tr>')
    yield "</table></details>"


def login_page(base: str, error: str | None, read_only: bool) -> str:
    out = [_head(base, "Log in · OMNIPOWER gateway"), '<body><form class="login" method="post" '
           f'action="{_attr(base)}/login"><h1>Log in</h1>']
    if read_only:
        out.append('<p class="error">No <code>web.username</code> and <code>web.password</code> are configured: '
                   "the page is read-only and nobody can log in.</p>")
    if error:
        out.append(f'<p class="error" id="login-error">{escape(error)}</p>')
    out.append('<label for="username">User name</label><input id="username" name="username" autocomplete="username" '
               'required><label for="password">Password</label><input id="password" name="password" type="password" '
               f'autocomplete="current-password" required><button id="login-submit">Log in</button> '
               f'<a href="{_attr(base)}/">back</a></form></body></html>')
    return "".join(out)
