// The status page served at `/` on the monitoring port: one self-contained HTML document (inline CSS and
// script, nothing fetched but this port's own JSON) that polls /varz, /connz, /subsz, /healthz, /handlerz and
// the event feed and shows connections, message rates with a live chart, limits in use, each sink's health, the
// leafnode links and the latest events. A string in a module rather than a file beside it: nothing to copy into
// dist, nothing to find at run time. The endpoints' JSON stays the interface; this page only reads it.
//
// The script is plain ES2017 written without template literals (this file's own literal encloses it) and builds
// every cell with textContent, so event fields, sink errors and client names are never parsed as markup.

/** The page. `endpoints` are the JSON paths linked in its footer (what the old index listed). */
export function statusPage(endpoints: readonly string[]): string {
  const links = endpoints.map((p) => `<li><a href=".${p}">${p.slice(1)}</a></li>`).join(' ');
  return PAGE.replace('<!--ENDPOINT-LINKS-->', links);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>event-service status</title>
<link rel="icon" href="data:,">
<style>
:root { --fg: #1b1f24; --muted: #57606a; --bg: #f6f8fa; --card: #fff; --line: #d0d7de; --in: #0969da; --out: #8250df;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .4rem 1.2rem; padding: .8rem 1.2rem; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.25rem; margin: 0; }
header p { margin: 0; color: var(--muted); min-width: 0; overflow-wrap: anywhere; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(22rem, 100%), 1fr)); gap: 1rem; padding: 1rem 1.2rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; min-width: 0; }
section.wide { grid-column: 1 / -1; }
@media (min-width: 72rem) { section.span2 { grid-column: span 2; } }
h2 { font-size: 1rem; margin: 0 0 .6rem; }
dl.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(7.5rem, 1fr)); gap: .6rem; margin: 0; }
dl.figures div { border-left: 3px solid var(--line); padding-left: .5rem; }
dl.figures dt { color: var(--muted); font-size: .8rem; }
dl.figures dd { margin: 0; font-size: 1.45rem; font-variant-numeric: tabular-nums; font-weight: 600; }
dl.figures .in { border-left-color: var(--in); }
dl.figures .out { border-left-color: var(--out); }
.chart { width: 100%; height: 150px; display: block; margin-top: .6rem; }
.chart text { font-size: 10px; fill: var(--muted); }
.legend { margin: .3rem 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: .2rem 1rem; color: var(--muted); font-size: .85rem; }
.legend li { white-space: nowrap; }
.legend li#chart-scale { white-space: normal; }
.swatch { display: inline-block; width: .8rem; height: .25rem; vertical-align: middle; margin-right: .3rem; }
.limit { margin: 0 0 .7rem; }
.limit-head { display: flex; justify-content: space-between; gap: 1rem; }
.limit-head span:last-child { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
.bar { height: .55rem; background: #eaeef2; border-radius: 3px; overflow: hidden; margin-top: .2rem; }
.bar > div { height: 100%; width: 0; background: var(--ok); }
.bar > div.warn { background: var(--warn); }
.bar > div.bad { background: var(--bad); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .6rem .3rem 0; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
th:last-child, td:last-child { padding-right: 0; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; }
td.num, th.num { text-align: right; }
td.err { color: var(--bad); white-space: normal; overflow-wrap: break-word; min-width: 12rem; }
td small { display: block; color: var(--muted); font-size: .8rem; }
.scroll { overflow-x: auto; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.note { color: var(--muted); margin: .3rem 0 0; }
#problem { margin: 0; padding: .5rem 1.2rem; background: #ffebe9; color: var(--bad); border-bottom: 1px solid var(--line); }
#problem:empty { display: none; }
footer { padding: 0 1.2rem 1.2rem; color: var(--muted); }
footer ul { display: inline; padding: 0; margin: 0; list-style: none; }
footer li { display: inline; margin-right: .8rem; }
a { color: var(--in); }
abbr[title] { text-decoration: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
</style>
</head>
<body>
<header>
  <h1>event-service</h1>
  <p id="server">server <span id="server-name">…</span> · version <span id="server-version">…</span> · up <span id="uptime">…</span></p>
  <p>health: <span id="health" class="badge">…</span></p>
  <p>updated <time id="updated">never</time></p>
</header>
<p id="problem" role="alert"></p>
<noscript><p class="note" style="padding: 0 1.2rem">This page needs JavaScript for its live figures; the JSON endpoints below work without it.</p></noscript>
<main>
  <section aria-labelledby="h-conn">
    <h2 id="h-conn">Connections</h2>
    <dl class="figures">
      <div><dt>Open now</dt><dd id="connections">–</dd></div>
      <div><dt>Since start</dt><dd id="total-connections">–</dd></div>
      <div><dt>Subscriptions</dt><dd id="subscriptions">–</dd></div>
      <div><dt>Slow consumers</dt><dd id="slow-consumers">–</dd></div>
    </dl>
    <div class="scroll" style="margin-top:.7rem"><table aria-label="Busiest connections">
      <thead><tr><th scope="col" class="num">cid</th><th scope="col">client</th><th scope="col" class="num">msgs in</th><th scope="col" class="num">msgs out</th><th scope="col" class="num">subs</th></tr></thead>
      <tbody id="conn-rows"><tr><td colspan="5" class="note">no connections</td></tr></tbody>
    </table></div>
  </section>
  <section aria-labelledby="h-rates">
    <h2 id="h-rates">Message rates</h2>
    <dl class="figures">
      <div class="in"><dt>Messages in /s</dt><dd id="rate-in">–</dd></div>
      <div class="out"><dt>Messages out /s</dt><dd id="rate-out">–</dd></div>
      <div class="in"><dt>Bytes in /s</dt><dd id="rate-bytes-in">–</dd></div>
      <div class="out"><dt>Bytes out /s</dt><dd id="rate-bytes-out">–</dd></div>
    </dl>
    <svg id="chart" class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 600 150" preserveAspectRatio="none">
      <title id="chart-title">Messages per second over the last samples: no data yet</title>
      <g id="chart-grid"></g>
      <polyline id="chart-out" fill="none" stroke="#8250df" stroke-opacity="0.45" stroke-width="6" stroke-linejoin="round" vector-effect="non-scaling-stroke" points=""></polyline>
      <polyline id="chart-in" fill="none" stroke="#0969da" stroke-width="2" stroke-linejoin="round" vector-effect="non-scaling-stroke" points=""></polyline>
    </svg>
    <ul class="legend" aria-hidden="true">
      <li><span class="swatch" style="background:#0969da"></span>in (thin line)</li>
      <li><span class="swatch" style="background:#8250df;opacity:.45;height:.45rem"></span>out (wide band)</li>
      <li id="chart-scale"></li>
    </ul>
    <p class="note">Totals: <span id="in-msgs">–</span> in, <span id="out-msgs">–</span> out.</p>
  </section>
  <section aria-labelledby="h-limits">
    <h2 id="h-limits">Limits in use</h2>
    <div class="limit" id="limit-events-row">
      <div class="limit-head"><span id="l-events">Events held for handlers / event_limit</span><span id="limit-events">–</span></div>
      <div class="bar" role="progressbar" aria-labelledby="l-events" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" id="bar-events"><div></div></div>
    </div>
    <div class="limit">
      <div class="limit-head"><span id="l-listeners">Listeners (subscriptions) / listener_limit</span><span id="limit-listeners">–</span></div>
      <div class="bar" role="progressbar" aria-labelledby="l-listeners" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" id="bar-listeners"><div></div></div>
    </div>
    <div class="limit">
      <div class="limit-head"><span id="l-conns">Connections / max_connections</span><span id="limit-connections">–</span></div>
      <div class="bar" role="progressbar" aria-labelledby="l-conns" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" id="bar-connections"><div></div></div>
    </div>
    <p class="note" id="listeners-note"></p>
    <p class="note" id="limits-note"></p>
  </section>
  <section class="span2" aria-labelledby="h-sinks">
    <h2 id="h-sinks">Handler sinks</h2>
    <div class="scroll"><table aria-label="Handler sinks">
      <thead><tr><th scope="col">sink</th><th scope="col">health</th><th scope="col" class="num">backlog</th><th scope="col" class="num">dead letters</th><th scope="col" class="num">delivered</th><th scope="col">last error</th></tr></thead>
      <tbody id="sink-rows"><tr><td colspan="6" class="note">loading…</td></tr></tbody>
    </table></div>
    <p class="note" id="intake-note"></p>
  </section>
  <section aria-labelledby="h-leaf">
    <h2 id="h-leaf">Leafnode / gateway link</h2>
    <p id="leaf-summary" class="note">loading…</p>
    <div class="scroll"><table aria-label="Leafnode links">
      <thead><tr><th scope="col">leaf</th><th scope="col">state</th><th scope="col" class="num"><abbr title="messages in">in</abbr></th><th scope="col" class="num"><abbr title="messages out">out</abbr></th><th scope="col" class="num">subs</th></tr></thead>
      <tbody id="leaf-rows"></tbody>
    </table></div>
  </section>
  <section class="wide" aria-labelledby="h-events">
    <h2 id="h-events">Recent events</h2>
    <div class="scroll"><table aria-label="Latest events, newest first">
      <thead><tr><th scope="col" class="num">seq</th><th scope="col">stored</th><th scope="col">type</th><th scope="col">producer</th><th scope="col">actor</th><th scope="col">id</th></tr></thead>
      <tbody id="event-rows"><tr><td colspan="6" class="note">loading…</td></tr></tbody>
    </table></div>
  </section>
</main>
<footer>
  <h2 class="visually-hidden">JSON endpoints</h2>
  JSON endpoints: <ul><!--ENDPOINT-LINKS--> <li><a href="./handlerz">handlerz</a></li> <li><a href="./events?limit=10">events</a></li></ul>
</footer>
<script>
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var INTERVAL = Math.max(250, Number(params.get('interval')) || 1000);
  var SAMPLES = 60;
  var history = [];
  var prev = null;
  var timer = null;
  var $ = function (id) { return document.getElementById(id); };
  var fmt = new Intl.NumberFormat('en');
  var num = function (n) { return typeof n === 'number' && isFinite(n) ? fmt.format(n) : '–'; };
  var rate = function (n) { return n >= 100 ? fmt.format(Math.round(n)) : fmt.format(Math.round(n * 10) / 10); };
  var bytes = function (n) {
    var units = ['B', 'KiB', 'MiB', 'GiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  };
  var setText = function (id, text) { var el = $(id); if (el && el.textContent !== text) el.textContent = text; };

  function get(path) {
    var ctl = new AbortController();
    var t = setTimeout(function () { ctl.abort(); }, Math.max(2000, INTERVAL * 2));
    return fetch(path, { signal: ctl.signal, cache: 'no-store' }).then(function (res) {
      clearTimeout(t);
      if (res.status === 404) return null;
      if (!res.ok && path !== 'healthz') throw new Error(path + ': HTTP ' + res.status);
      return res.json();
    }, function (err) { clearTimeout(t); throw new Error(path + ': ' + (err && err.message || err)); });
  }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  /** A cell with a second, quieter line (an address under a name). */
  function cell2(tr, text, sub) {
    var td = cell(tr, text);
    var small = document.createElement('small');
    small.textContent = sub;
    td.appendChild(small);
    return td;
  }

  function fill(tbodyId, rows, empty, build) {
    var tbody = $(tbodyId);
    var frag = document.createDocumentFragment();
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = cell(tr, empty, 'note');
      td.colSpan = tbody.parentNode.querySelectorAll('thead th').length;
      frag.appendChild(tr);
    } else {
      rows.forEach(function (r) { var tr = document.createElement('tr'); build(tr, r); frag.appendChild(tr); });
    }
    tbody.replaceChildren(frag);
  }

  function badge(el, text, cls) {
    el.textContent = text;
    el.className = 'badge ' + cls;
  }

  function limit(key, used, max) {
    var pct = max > 0 ? Math.min(100, (used / max) * 100) : 0;
    setText('limit-' + key, num(used) + ' / ' + num(max) + ' (' + (Math.round(pct * 10) / 10) + '%)');
    var bar = $('bar-' + key);
    bar.setAttribute('aria-valuenow', String(Math.round(pct)));
    bar.setAttribute('aria-valuetext', num(used) + ' of ' + num(max));
    var fillEl = bar.firstElementChild;
    fillEl.style.width = pct + '%';
    fillEl.className = pct >= 90 ? 'bad' : pct >= 70 ? 'warn' : '';
  }

  function showVarz(v) {
    setText('server-name', v.server_name || v.server_id);
    setText('server-version', v.version);
    setText('uptime', v.uptime);
    setText('connections', num(v.connections));
    setText('total-connections', num(v.total_connections));
    setText('subscriptions', num(v.subscriptions));
    setText('slow-consumers', num(v.slow_consumers));
    setText('in-msgs', num(v.in_msgs));
    setText('out-msgs', num(v.out_msgs));
    var at = Date.parse(v.now);
    if (prev !== null && at > prev.at) {
      var dt = (at - prev.at) / 1000;
      var s = {
        inMsgs: Math.max(0, v.in_msgs - prev.v.in_msgs) / dt,
        outMsgs: Math.max(0, v.out_msgs - prev.v.out_msgs) / dt,
        inBytes: Math.max(0, v.in_bytes - prev.v.in_bytes) / dt,
        outBytes: Math.max(0, v.out_bytes - prev.v.out_bytes) / dt
      };
      history.push(s);
      if (history.length > SAMPLES) history.shift();
      setText('rate-in', rate(s.inMsgs));
      setText('rate-out', rate(s.outMsgs));
      setText('rate-bytes-in', bytes(s.inBytes));
      setText('rate-bytes-out', bytes(s.outBytes));
      drawChart(s);
    }
    if (prev === null || at > prev.at) prev = { at: at, v: v };
    limit('listeners', v.subscriptions, v.listener_limit);
    limit('connections', v.connections, v.max_connections);
    setText('listeners-note', 'Listeners are what users subscribe' + (v.listener_credit > 0 ? ' (' + num(v.listener_credit) + ' granted to gateways for their clients)' : '') +
      '; the service itself holds ' + num(v.system_subscriptions || 0) + ' more, not counted.');
  }

  function drawChart(last) {
    var W = 600, H = 150, PAD = 14;
    var max = 1;
    history.forEach(function (s) { max = Math.max(max, s.inMsgs, s.outMsgs); });
    // A round ceiling (1, 2, 5 x 10^n) so the scale label reads well and the lines do not jump at every sample.
    var mag = Math.pow(10, Math.floor(Math.log10(max)));
    var top = [1, 2, 5, 10].map(function (m) { return m * mag; }).filter(function (c) { return c >= max; })[0];
    var x = function (i) { return (W * (i + SAMPLES - history.length)) / (SAMPLES - 1); };
    var y = function (val) { return H - PAD - ((H - 2 * PAD) * val) / top; };
    var line = function (key) {
      return history.map(function (s, i) { return x(i).toFixed(1) + ',' + y(s[key]).toFixed(1); }).join(' ');
    };
    $('chart-in').setAttribute('points', line('inMsgs'));
    $('chart-out').setAttribute('points', line('outMsgs'));
    var grid = $('chart-grid');
    var ns = 'http://www.w3.org/2000/svg';
    var frag = document.createDocumentFragment();
    [0, 0.5, 1].forEach(function (f) {
      var gy = y(top * f);
      var l = document.createElementNS(ns, 'line');
      l.setAttribute('x1', '0'); l.setAttribute('x2', String(W));
      l.setAttribute('y1', gy.toFixed(1)); l.setAttribute('y2', gy.toFixed(1));
      l.setAttribute('stroke', '#d0d7de'); l.setAttribute('vector-effect', 'non-scaling-stroke');
      frag.appendChild(l);
    });
    grid.replaceChildren(frag);
    setText('chart-scale', 'top of chart: ' + rate(top) + ' msgs/s; ' + history.length + ' samples, every ' + (INTERVAL / 1000) + ' s');
    setText('chart-title', 'Messages per second over the last ' + history.length + ' samples; now ' + rate(last.inMsgs) + ' in, ' + rate(last.outMsgs) + ' out');
  }

  function showConnz(c) {
    fill('conn-rows', c.connections || [], 'no connections', function (tr, k) {
      cell(tr, k.cid, 'num');
      cell2(tr, k.name || '(no name)', k.ip + ':' + k.port);
      cell(tr, num(k.in_msgs), 'num');
      cell(tr, num(k.out_msgs), 'num');
      cell(tr, num(k.subscriptions), 'num');
    });
  }

  function showSubsz(s) {
    var hit = typeof s.cache_hit_rate === 'number' ? Math.round(s.cache_hit_rate * 1000) / 10 + '% match cache hits' : '';
    setText('limits-note', 'Subject matching: ' + num(s.num_subscriptions) + ' subscriptions, ' + num(s.num_cache) + ' cached subjects' + (hit ? ', ' + hit : '') + '.');
  }

  function showHandlerz(h) {
    if (h === null) {
      setText('limit-events', 'n/a');
      setText('intake-note', 'This server has no /handlerz endpoint.');
      fill('sink-rows', [], 'unknown', function () {});
      return;
    }
    var hs = h.handlers;
    if (hs === null) {
      setText('limit-events', 'handlers off');
      setText('intake-note', 'No [store] or [handlers] configured: events are not held or delivered (event_limit ' + num(h.event_limit) + ' applies once they are).');
      fill('sink-rows', [], 'no handlers configured', function () {});
    } else {
      limit('events', hs.held, hs.event_limit);
      var i = hs.intake;
      setText('intake-note', 'Intake: ' + num(i.accepted) + ' accepted, ' + num(i.duplicates) + ' duplicates, ' + num(i.invalid) + ' invalid, ' +
        num(i.refused_at_limit) + ' refused at the limit' + (i.paused_publishers > 0 ? ', ' + num(i.paused_publishers) + ' publishers held' : '') +
        (hs.reserved > 0 ? ', room for ' + num(hs.reserved) + ' more promised to gateways' : '') + '.');
      fill('sink-rows', hs.sinks, 'no sinks configured', function (tr, s) {
        tr.setAttribute('data-sink', s.name);
        var name = cell(tr, s.name);
        name.title = s.url;
        var td = cell(tr, '');
        var b = document.createElement('span');
        badge(b, s.health, s.health === 'ok' ? 'ok' : s.health === 'retrying' ? 'warn' : 'bad');
        td.appendChild(b);
        cell(tr, num(s.backlog), 'num');
        cell(tr, num(s.dead_letters), s.dead_letters > 0 ? 'num bad' : 'num');
        cell(tr, num(s.delivered), 'num');
        var err = cell(tr, s.last_error || 'none', s.last_error ? 'err' : 'note');
        if (s.last_error_at) {
          var small = document.createElement('small');
          small.textContent = 'at ' + new Date(s.last_error_at).toLocaleTimeString();
          err.appendChild(small);
        }
      });
    }
    var l = h.leafnodes;
    if (l === null || l === undefined) {
      setText('leaf-summary', 'No [leafnodes] listener configured: no gateway or leaf link.');
      fill('leaf-rows', [], 'not configured', function () {});
    } else {
      // /handlerz lists admitted links only: each one listed is up.
      var up = l.links.length;
      setText('leaf-summary', 'Listening on ' + l.host + ':' + l.port + ' · ' + up + ' link' + (up === 1 ? '' : 's') + ' up · ' + num(l.total_links) + ' since start');
      fill('leaf-rows', l.links, 'no link connected', function (tr, k) {
        cell2(tr, k.name || k.server_id || ('link ' + k.lid), k.ip + ':' + k.port);
        var td = cell(tr, '');
        var b = document.createElement('span');
        badge(b, 'connected', 'ok');
        td.appendChild(b);
        cell(tr, num(k.in_msgs), 'num');
        cell(tr, num(k.out_msgs), 'num');
        cell(tr, num(k.subscriptions), 'num');
      });
    }
  }

  function showEvents(page) {
    var rows = page === null ? [] : page.events;
    fill('event-rows', rows, page === null ? 'no event feed on this server' : 'no events yet', function (tr, e) {
      var ev = e.event || {};
      cell(tr, e.seq, 'num');
      cell(tr, new Date(e.stored_at).toLocaleTimeString());
      cell(tr, ev.type);
      cell(tr, ev.producer && (ev.producer.name || ev.producer.id));
      cell(tr, ev.actor && ev.actor.id);
      cell(tr, ev.id);
    });
  }

  var problems = [];
  function guard(p, show) {
    return p.then(show).catch(function (err) { problems.push(err && err.message || String(err)); });
  }

  function poll() {
    problems = [];
    var handlerz = get('handlerz');
    var work = [
      guard(get('varz'), showVarz),
      guard(get('connz?sort=msgs_from&limit=5'), showConnz),
      guard(get('subsz'), showSubsz),
      guard(get('healthz'), function (h) {
        var ok = h && h.status === 'ok';
        badge($('health'), ok ? 'ok' : (h && (h.error || h.status)) || 'unknown', ok ? 'ok' : 'bad');
      }),
      guard(handlerz, showHandlerz),
      guard(handlerz.then(function (h) {
        if (h === null || h.handlers === null) return null;
        // Newest first from the top: not last_seq - 10, which finds fewer than 10 where sequences are sparse
        // (a JetStream stream holds other messages between events).
        return get('events?limit=10&order=desc');
      }), showEvents)
    ];
    Promise.all(work).then(function () {
      setText('problem', problems.length ? 'Could not read: ' + problems.join('; ') : '');
      var now = new Date();
      var t = $('updated');
      t.dateTime = now.toISOString();
      t.textContent = now.toLocaleTimeString();
      timer = document.hidden ? null : setTimeout(poll, INTERVAL);
    });
  }

  document.addEventListener('visibilitychange', function () {
    // A hidden tab stops polling; the rate restarts from the next sample rather than averaging over the gap.
    if (document.hidden) { clearTimeout(timer); timer = null; prev = null; }
    else if (timer === null) poll();
  });
  poll();
})();
</script>
</body>
</html>
`;
