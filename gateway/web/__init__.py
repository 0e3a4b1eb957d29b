"""The status page (issue 16): the meters as the gateway publishes them, the LCD drawn as the OMNIPOWER shows it, the
active alarms, and the breaker and tariff controls, served by the gateway over HTTP.

| module | holds |
|---|---|
| `settings.py` | `web: {enabled, host, port, username, password}` |
| `http_wire.py` | HTTP/1.1, sans-IO: requests parsed from bytes, responses and events encoded |
| `board.py` | the latest of each meter's published topics, and who is waiting for a change |
| `lcd_svg.py` | the `display` payload (meter_sim/display.py's `LcdText`) drawn as the LCD's segments, in SVG |
| `page.py` | the HTML: the page, each meter's card, the login form |
| `sessions.py` | logins, session cookies, CSRF tokens |
| `app.py` | the routes: a request in, a response out (commands through the MQTT requests' own checks) |
| `server.py` | the asyncio transport: connections, keep-alive, the event stream |
"""
