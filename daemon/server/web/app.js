// tend's web page: live views over the same API tendctl reads (/v1/status through the event
// stream, /v1/plan, /v1/resources/ID, /v1/runs, /v1/events). No framework, no inline code (the
// page's Content-Security-Policy forbids it), and every value goes into the DOM as text.
'use strict';
(function () {
  const PHASES = ['ready', 'progressing', 'pending', 'blocked', 'failed', 'deleting'];
  const ROW = 24;
  const S = {
    head: null,            // revision, last_run, spec_error, ...
    res: new Map(),        // id -> resource (as in /v1/status)
    order: [],             // ids in status order
    events: [],            // newest last, at most 500
    lastEventId: 0,
    filter: '',
    connected: false,
  };

  // ---- DOM helpers -------------------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  function svg(tag, attrs, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const kid of kids) el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return el;
  }
  const $ = (sel) => document.querySelector(sel);
  const resLink = (id) => h('a', { href: '#/r/' + encodeURIComponent(id) }, id);
  const phaseCell = (p) => h('span', { class: 'phase ' + (p || '') }, p || '?');
  function notice(text, error) {
    const n = $('#notice');
    n.hidden = false;
    n.className = 'notice' + (error ? ' error' : '');
    n.textContent = text;
  }
  function age(iso) {
    if (!iso) return '-';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 90) return Math.round(s) + 's';
    if (s < 5400) return Math.round(s / 60) + 'm';
    if (s < 129600) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }

  async function getJSON(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
    return body;
  }

  // ---- reconcile now (needs the bearer token on TCP; kept in sessionStorage) -----------------
  async function reconcile(ids) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const headers = { 'Content-Type': 'application/json' };
      const tok = sessionStorage.getItem('tend-token');
      if (tok) headers.Authorization = 'Bearer ' + tok;
      const r = await fetch('/v1/reconcile', { method: 'POST', headers, body: JSON.stringify(ids && ids.length ? { resources: ids } : {}) });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401) {
        sessionStorage.removeItem('tend-token');
        const t = window.prompt('Reconcile needs tendd\'s bearer token (--token-file). It is kept in this tab only.');
        if (!t) { notice('reconcile refused: ' + (body.error || 'a bearer token is needed'), true); return; }
        sessionStorage.setItem('tend-token', t.trim());
        continue;
      }
      if (!r.ok) { notice('reconcile refused: ' + (body.error || ('HTTP ' + r.status)), true); return; }
      const what = ids && ids.length ? ids.length + ' resource(s)' : 'everything';
      notice(body.run_id ? 'run ' + body.run_id + ' ' + (body.status || 'started') + ' (' + what + ')' : 'pass queued (' + what + ')');
      return;
    }
  }

  // ---- derived data --------------------------------------------------------------------------
  function tiers() {
    const out = new Map();
    for (const id of S.order) {
      const r = S.res.get(id);
      const t = r.tier || '(no tier)';
      if (!out.has(t)) out.set(t, { total: 0 });
      const c = out.get(t);
      c.total++;
      c[r.phase] = (c[r.phase] || 0) + 1;
    }
    return out;
  }
  function dependents() {
    const down = new Map();
    for (const id of S.order)
      for (const d of S.res.get(id).depends_on || []) {
        if (!down.has(d)) down.set(d, []);
        down.get(d).push(id);
      }
    return down;
  }
  // The chain from a resource down to what blocks it: the first dependency that is not ready,
  // again and again, to one whose dependencies are all ready (the root cause).
  function chainOf(id) {
    const chain = [];
    const seen = new Set([id]);
    let cur = S.res.get(id);
    while (cur && cur.phase !== 'ready') {
      const next = (cur.depends_on || []).find((d) => S.res.has(d) && S.res.get(d).phase !== 'ready' && !seen.has(d));
      if (!next) break;
      seen.add(next);
      chain.push(next);
      cur = S.res.get(next);
    }
    return chain;
  }
  function blockedChains() {
    const byRoot = new Map();
    for (const id of S.order) {
      if (S.res.get(id).phase !== 'blocked') continue;
      const c = chainOf(id);
      const root = c.length ? c[c.length - 1] : id;
      if (!byRoot.has(root)) byRoot.set(root, { longest: [], count: 0 });
      const e = byRoot.get(root);
      e.count++;
      if (c.length + 1 > e.longest.length) e.longest = [id, ...c];
    }
    return [...byRoot.entries()].sort((a, b) => b[1].count - a[1].count);
  }
  function matches(r, terms) {
    for (const t of terms) {
      const [k, v] = t.includes(':') ? [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)] : ['', t];
      if (k === 'phase') { if (r.phase !== v) return false; } else if (k === 'kind') { if (r.kind !== v) return false; } else if (k === 'tier') { if ((r.tier || '') !== v) return false; } else if (k === 'app') { if ((r.app || '') !== v) return false; } else {
        const hay = (r.id + ' ' + (r.message || '') + ' ' + (r.app || '')).toLowerCase();
        if (!hay.includes(t.toLowerCase())) return false;
      }
    }
    return true;
  }

  // ---- header, tier summary ------------------------------------------------------------------
  function renderHead() {
    const hd = S.head || {};
    const lr = hd.last_run;
    const run = lr ? '#' + lr.id + ' ' + lr.result + ' (' + lr.trigger + ', started ' + lr.started + (lr.summary ? ', ' + lr.summary : '') + ')' : 'none yet';
    const kids = [h('dl', { class: 'facts' },
      h('dt', {}, 'environment'), h('dd', { id: 'f-env' }, hd.environment || '(none)'),
      h('dt', {}, 'revision'), h('dd', { id: 'f-rev' }, h('code', {}, hd.revision || '(none)')),
      h('dt', {}, 'last run'), h('dd', { id: 'f-run' }, run),
      hd.dry_run ? [h('dt', {}, 'mode'), h('dd', {}, 'dry run')] : null)];
    if (hd.spec_error) kids.push(h('div', { class: 'spec-error', id: 'f-specerr' }, h('strong', {}, 'spec error'), ' (the last good spec stays applied)', h('pre', {}, hd.spec_error)));
    $('#head').replaceChildren(...kids);
    const t = tiers();
    const rows = [...t.entries()].map(([name, c]) => h('tr', {},
      h('td', {}, h('a', { href: '#/?q=' + encodeURIComponent('tier:' + name) }, name)), h('td', {}, c.total),
      PHASES.map((p) => h('td', { class: c[p] ? p : 'zero' }, c[p] || 0))));
    $('#summary').replaceChildren(h('h2', {}, 'by tier'), h('table', { class: 'tiers', id: 'tier-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'tier'), h('th', {}, 'resources'), PHASES.map((p) => h('th', {}, p)))),
      h('tbody', {}, rows)));
  }

  // ---- views ---------------------------------------------------------------------------------
  let view = null;  // { name, render(), dispose() }

  function overview(params) {
    const box = h('div', { id: 'overview' });
    const chainsBox = h('section', { id: 'chains' });
    const input = h('input', { id: 'filter', type: 'search', placeholder: 'filter: text, phase:failed, kind:container, tier:apps, app:NAME', value: params.get('q') || S.filter });
    const count = h('span', { id: 'vt-count', class: 'hint' });
    const vt = h('div', { class: 'vt', id: 'vt' });
    const inner = h('div', { class: 'vt-inner' });
    vt.appendChild(h('div', { class: 'vt-head' }, h('span', {}, 'resource'), h('span', {}, 'tier'), h('span', {}, 'app'), h('span', {}, 'phase'), h('span', {}, 'message')));
    vt.appendChild(inner);
    box.append(chainsBox, h('h2', {}, 'resources'), h('div', { class: 'toolbar' }, input, count), vt);
    let shown = [];
    function refilter() {
      S.filter = input.value;
      const terms = input.value.trim().split(/\s+/).filter(Boolean);
      shown = S.order.filter((id) => matches(S.res.get(id), terms));
      count.textContent = shown.length + ' of ' + S.order.length + ' resources';
      inner.style.height = (shown.length * ROW + 4) + 'px';
      paint();
    }
    // Only the rows in view exist in the DOM: 10,000 resources stay fast.
    function paint() {
      const top = Math.max(0, Math.floor((vt.scrollTop - 26) / ROW) - 10);
      const n = Math.ceil(vt.clientHeight / ROW) + 20;
      const rows = [];
      for (let i = top; i < Math.min(shown.length, top + n); i++) {
        const r = S.res.get(shown[i]);
        if (!r) continue;
        const row = h('div', { class: 'vt-row', 'data-id': r.id, title: r.message || '' },
          h('span', {}, resLink(r.id), r.drifted ? h('span', { class: 'drift' }, 'drifted') : null),
          h('span', {}, r.tier || ''), h('span', {}, r.app || ''), h('span', {}, phaseCell(r.phase)), h('span', {}, r.message || ''));
        row.style.top = (i * ROW) + 'px';
        rows.push(row);
      }
      inner.replaceChildren(...rows);
    }
    vt.addEventListener('scroll', () => requestAnimationFrame(paint));
    vt.addEventListener('click', (e) => {
      const row = e.target.closest('.vt-row');
      if (row && e.target.tagName !== 'A') location.hash = '#/r/' + encodeURIComponent(row.dataset.id);
    });
    input.addEventListener('input', refilter);
    function renderChains() {
      const chains = blockedChains();
      if (!chains.length) { chainsBox.replaceChildren(h('h2', {}, 'blocked chains'), h('p', { class: 'hint' }, 'nothing is blocked')); return; }
      chainsBox.replaceChildren(h('h2', {}, 'blocked chains'), h('ul', { class: 'chains' }, chains.slice(0, 20).map(([root, e]) => {
        const rr = S.res.get(root);
        const parts = [];
        e.longest.forEach((id, i) => {
          if (i) parts.push(h('span', { class: 'arrow' }, '\u2192'));
          parts.push(resLink(id), ' ', phaseCell(S.res.get(id) ? S.res.get(id).phase : '?'));
        });
        return h('li', { class: 'chain' }, parts, rr && rr.message ? h('span', { class: 'hint' }, ' \u2014 ' + rr.message) : null,
          e.count > 1 ? h('span', { class: 'hint' }, ' (' + e.count + ' blocked by ' + root + ')') : null);
      })));
    }
    return {
      el: box,
      render() { renderChains(); refilter(); },
    };
  }

  function layered(nodes, edges) {
    // Longest-path layering: a node sits one column right of its deepest dependency.
    const deps = new Map(nodes.map((n) => [n, []]));
    for (const [a, b] of edges) if (deps.has(a) && deps.has(b)) deps.get(a).push(b);
    const depth = new Map();
    const visiting = new Set();
    function d(n) {
      if (depth.has(n)) return depth.get(n);
      if (visiting.has(n)) return 0;
      visiting.add(n);
      let v = 0;
      for (const m of deps.get(n)) v = Math.max(v, d(m) + 1);
      visiting.delete(n);
      depth.set(n, v);
      return v;
    }
    nodes.forEach(d);
    const cols = [];
    for (const n of nodes) {
      const c = depth.get(n);
      (cols[c] = cols[c] || []).push(n);
    }
    const pos = new Map();
    cols.forEach((col, x) => col.forEach((n, y) => pos.set(n, { x: 10 + x * 250, y: 20 + y * 30 })));
    return { pos, width: 10 + cols.length * 250, height: 40 + Math.max(1, ...cols.map((c) => c.length)) * 30 };
  }
  function worst(phases) {
    for (const p of ['failed', 'blocked', 'progressing', 'pending', 'deleting']) if (phases.has(p)) return p;
    return 'ready';
  }
  const COLORS = { ready: '#1a7f37', progressing: '#9a6700', pending: '#9a6700', deleting: '#9a6700', blocked: '#cf222e', failed: '#cf222e' };

  function graph(params, app) {
    const box = h('div', { id: 'graph' });
    return {
      el: box,
      render() {
        const apps = [...new Set(S.order.map((id) => S.res.get(id).app).filter(Boolean))].sort();
        const sel = h('select', { id: 'graph-app', onchange: (e) => { location.hash = e.target.value ? '#/graph/' + encodeURIComponent(e.target.value) : '#/graph'; } },
          h('option', { value: '' }, 'the whole site (by app)'), apps.map((a) => h('option', { value: a, selected: a === app ? 'selected' : null }, a)));
        let nodes, edges, label, phaseOf, link;
        if (!app) {
          // The site: one node per app (other resources grouped by kind), an edge where any
          // resource of one depends on a resource of the other.
          const group = (id) => S.res.get(id).app || '[' + S.res.get(id).kind + ']';
          const phases = new Map();
          const es = new Set();
          for (const id of S.order) {
            const g = group(id);
            if (!phases.has(g)) phases.set(g, new Set());
            phases.get(g).add(S.res.get(id).phase);
            for (const d of S.res.get(id).depends_on || []) if (S.res.has(d) && group(d) !== g) es.add(g + '\u0000' + group(d));
          }
          nodes = [...phases.keys()];
          edges = [...es].map((e) => e.split('\u0000'));
          label = (n) => n;
          phaseOf = (n) => worst(phases.get(n));
          link = (n) => (n.startsWith('[') ? null : '#/graph/' + encodeURIComponent(n));
        } else {
          const mine = S.order.filter((id) => S.res.get(id).app === app);
          const set = new Set(mine);
          for (const id of mine) for (const d of S.res.get(id).depends_on || []) if (S.res.has(d)) set.add(d);
          nodes = [...set];
          edges = [];
          for (const id of nodes) for (const d of S.res.get(id).depends_on || []) if (set.has(d)) edges.push([id, d]);
          label = (n) => n;
          phaseOf = (n) => S.res.get(n).phase;
          link = (n) => '#/r/' + encodeURIComponent(n);
        }
        const capped = nodes.length > 600;
        if (capped) nodes = nodes.filter((n) => phaseOf(n) !== 'ready').slice(0, 600);
        const { pos, width, height } = layered(nodes, edges);
        const g = svg('svg', { class: 'graph', width, height, viewBox: '0 0 ' + width + ' ' + height, id: 'graph-svg' });
        for (const [a, b] of edges) {
          if (!pos.has(a) || !pos.has(b)) continue;
          const pa = pos.get(a), pb = pos.get(b);
          const blocking = (phaseOf(a) === 'blocked' || phaseOf(a) === 'failed') && phaseOf(b) !== 'ready';
          g.appendChild(svg('path', { class: 'edge' + (blocking ? ' blocking' : ''), d: 'M' + (pb.x + 200) + ',' + pb.y + ' C' + (pb.x + 225) + ',' + pb.y + ' ' + (pa.x - 25) + ',' + pa.y + ' ' + pa.x + ',' + pa.y }));
        }
        for (const n of nodes) {
          const p = pos.get(n);
          const ph = phaseOf(n);
          const a = svg('a', { href: link(n) || '#/graph', class: 'node' });
          a.appendChild(svg('rect', { x: p.x, y: p.y - 10, width: 200, height: 20, rx: 4, fill: '#fff', stroke: COLORS[ph] || '#888', 'stroke-width': ph === 'ready' ? 1 : 2 }));
          const t = svg('text', { x: p.x + 6, y: p.y + 4, fill: COLORS[ph] || '#333' }, (label(n).length > 30 ? '\u2026' + label(n).slice(-29) : label(n)));
          t.appendChild(svg('title', {}, label(n) + ': ' + ph));
          a.appendChild(t);
          g.appendChild(a);
        }
        box.replaceChildren(h('div', { class: 'toolbar' }, h('strong', {}, 'dependency graph'), sel,
          h('span', { class: 'hint' }, 'dependencies on the left; red edges: a blocked chain'),
          capped ? h('span', { class: 'hint' }, ' (large: only resources that are not ready are drawn)') : null), g);
      },
    };
  }

  function diffTable(diff) {
    const keys = Object.keys(diff || {});
    if (!keys.length) return h('p', { class: 'hint' }, 'no field differences');
    return h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'field'), h('th', {}, 'now'), h('th', {}, 'wanted'))),
      h('tbody', {}, keys.map((k) => {
        const v = diff[k];
        const from = v && typeof v === 'object' && 'from' in v ? v.from : '';
        const to = v && typeof v === 'object' && 'to' in v ? v.to : v;
        return h('tr', {}, h('td', { class: 'mono' }, k), h('td', { class: 'from mono' }, JSON.stringify(from)), h('td', { class: 'to mono' }, JSON.stringify(to)));
      })));
  }
  function eventsTable(evs) {
    if (!evs.length) return h('p', { class: 'hint' }, 'no events');
    return h('table', { class: 'events' }, h('thead', {}, h('tr', {}, ['id', 'time', 'level', 'resource', 'reason', 'message'].map((c) => h('th', {}, c)))),
      h('tbody', {}, evs.slice().reverse().map((e) => h('tr', {}, h('td', {}, e.id), h('td', {}, e.time), h('td', { class: 'level-' + e.level }, e.level),
        h('td', {}, e.resource ? resLink(e.resource) : '-'), h('td', {}, e.reason), h('td', {}, e.message)))));
  }

  function detail(params, id) {
    const box = h('div', { id: 'detail' }, h('p', { class: 'hint' }, 'loading ' + id + '…'));
    let loaded = null;
    async function load() {
      try { loaded = await getJSON('/v1/resources/' + encodeURIComponent(id).replace(/%2F/g, '/') + '?plan=1'); } catch (e) { box.replaceChildren(h('p', { class: 'notice error' }, id + ': ' + e.message)); return; }
      paint();
    }
    function paint() {
      if (!loaded) return;
      const r = Object.assign({}, loaded.resource, S.res.get(id) || {});
      const brief = (list) => list.length ? h('ul', {}, list.map((d) => h('li', {}, resLink(d.id), ' ', phaseCell(S.res.has(d.id) ? S.res.get(d.id).phase : d.phase), d.message ? h('span', { class: 'hint' }, ' ' + d.message) : null))) : h('p', { class: 'hint' }, 'none');
      const plan = loaded.plan;
      box.replaceChildren(
        h('h2', {}, id), h('div', { class: 'toolbar' },
          h('button', { type: 'button', id: 'reconcile-one', onclick: () => reconcile([id]) }, 'Reconcile this resource'),
          r.app ? h('button', { type: 'button', onclick: () => reconcile(S.order.filter((x) => S.res.get(x).app === r.app)) }, 'Reconcile app ' + r.app) : null,
          r.app ? h('a', { href: '#/graph/' + encodeURIComponent(r.app) }, 'graph of ' + r.app) : null),
        h('dl', { class: 'facts' }, h('dt', {}, 'phase'), h('dd', {}, phaseCell(r.phase)), h('dt', {}, 'message'), h('dd', {}, r.message || '-'),
          h('dt', {}, 'kind'), h('dd', {}, r.kind), h('dt', {}, 'tier'), h('dd', {}, r.tier || '-'), h('dt', {}, 'app'), h('dd', {}, r.app || '-'),
          h('dt', {}, 'last applied'), h('dd', {}, r.last_applied ? r.last_applied + ' (' + age(r.last_applied) + ' ago)' : 'never'),
          h('dt', {}, 'declared at'), h('dd', {}, loaded.declared_at || '-'), h('dt', {}, 'provider'), h('dd', {}, loaded.provider || '-')),
        h('h2', {}, 'blocked by'), loaded.blocked_by.length ? h('p', { class: 'chains', id: 'blocked-by' }, resLink(id), loaded.blocked_by.map((d) => [h('span', { class: 'arrow' }, '\u2192'), resLink(d.id), ' ', phaseCell(d.phase)])) : h('p', { class: 'hint' }, 'nothing'),
        h('h2', {}, 'depends on'), brief(loaded.dependencies),
        h('h2', {}, 'needed by'), brief(loaded.dependents),
        h('h2', {}, 'plan'), !plan ? h('p', { class: 'hint' }, 'no plan') : plan.error ? h('p', { class: 'notice error' }, plan.error) :
          h('div', { class: 'diff', id: 'detail-plan' }, h('div', { class: 'diff-head' }, h('span', { class: 'act-' + plan.action }, plan.action), ' ', plan.reason || ''), diffTable(plan.diff)),
        h('h2', {}, 'events'), eventsTable(loaded.events),
        h('h2', {}, 'where its values come from'), explainTable(loaded.explain || []));
    }
    load();
    return { el: box, render: paint, onEvent(e) { if (e.resource === id) load(); } };
  }

  // tendctl explain ID: each value with the spec line it came from.
  function explainTable(items) {
    if (!items.length) return h('p', { class: 'hint' }, 'not in the applied spec');
    return h('table', { class: 'explain', id: 'detail-explain' }, h('thead', {}, h('tr', {}, h('th', {}, 'field'), h('th', {}, 'value'), h('th', {}, 'source'))),
      h('tbody', {}, items.map((x) => h('tr', {}, h('td', {}, x.field),
        h('td', { class: 'value' }, x.value), h('td', { class: 'hint' }, x.source.file.split('/').pop() + ':' + x.source.line)))));
  }

  function planView() {
    const box = h('div', { id: 'plan' }, h('p', { class: 'hint' }, 'planning (observes every provider)…'));
    (async () => {
      let plan;
      try { plan = await getJSON('/v1/plan'); } catch (e) { box.replaceChildren(h('p', { class: 'notice error' }, 'plan: ' + e.message)); return; }
      const counts = {};
      for (const a of plan) counts[a.action] = (counts[a.action] || 0) + 1;
      const changes = plan.filter((a) => a.action !== 'noop');
      box.replaceChildren(h('h2', {}, 'plan'), h('p', { id: 'plan-summary' }, ['create', 'update', 'replace', 'delete'].map((k) => (counts[k] || 0) + ' to ' + k).join(', ') + ', ' + (counts.noop || 0) + ' unchanged'),
        ...(changes.length ? changes.slice(0, 500).map((a) => h('div', { class: 'diff' }, h('div', { class: 'diff-head' }, h('span', { class: 'act-' + a.action }, a.action), ' ', resLink(a.id), ' ', h('span', { class: 'hint' }, a.reason || '')), diffTable(a.diff)))
          : [h('p', {}, 'nothing to do: every resource matches the spec')]));
    })();
    return { el: box, render() {} };
  }

  function runsView() {
    const box = h('div', { id: 'runs' });
    const runsBox = h('section', {}, h('p', { class: 'hint' }, 'loading runs…'));
    const evBox = h('section', {});
    box.append(runsBox, evBox);
    async function loadRuns() {
      try {
        const runs = await getJSON('/v1/runs?limit=20');
        runsBox.replaceChildren(h('h2', {}, 'last runs'), h('table', { id: 'runs-table' }, h('thead', {}, h('tr', {}, ['run', 'result', 'trigger', 'started', 'finished', 'revision', 'summary'].map((c) => h('th', {}, c)))),
          h('tbody', {}, runs.map((r) => h('tr', {}, h('td', {}, '#' + r.id), h('td', { class: r.result === 'success' ? 'ready' : r.result === 'running' ? 'progressing' : 'failed' }, r.result), h('td', {}, r.trigger), h('td', {}, r.started), h('td', {}, r.finished || '-'), h('td', { class: 'mono' }, r.revision), h('td', {}, r.summary))))));
      } catch (e) { runsBox.replaceChildren(h('p', { class: 'notice error' }, 'runs: ' + e.message)); }
    }
    loadRuns();
    return {
      el: box,
      render() { evBox.replaceChildren(h('h2', {}, 'events (live)'), eventsTable(S.events.slice(-200))); },
      onEvent(e) { if (e.reason === 'RunFinished' || e.reason === 'RunStarted') loadRuns(); },
    };
  }

  function route() {
    const hash = location.hash || '#/';
    const [path, qs] = hash.slice(1).split('?');
    const params = new URLSearchParams(qs || '');
    let v;
    if (path.startsWith('/r/')) v = detail(params, decodeURIComponent(path.slice(3)));
    else if (path === '/graph') v = graph(params, '');
    else if (path.startsWith('/graph/')) v = graph(params, decodeURIComponent(path.slice(7)));
    else if (path === '/plan') v = planView();
    else if (path === '/runs') v = runsView();
    else v = overview(params);
    view = v;
    document.querySelectorAll('header.top nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#' + path || (path.startsWith('/graph') && a.getAttribute('href') === '#/graph')));
    $('#app').replaceChildren(v.el);
    if (S.head) v.render();
  }

  // ---- live data: one event stream carries the status snapshot, its changes and the events ---
  let pending = false;
  function scheduleRender() {
    if (pending) return;
    pending = true;
    setTimeout(() => { pending = false; renderHead(); if (view) view.render(); }, 300);
  }
  function applyStatus(m) {
    if (m.head) S.head = m.head;
    if (m.full) { S.res = new Map(); S.order = []; }
    for (const r of m.resources || []) {
      if (!S.res.has(r.id)) S.order.push(r.id);
      S.res.set(r.id, r);
    }
    if (m.removed && m.removed.length) {
      const gone = new Set(m.removed);
      for (const id of gone) S.res.delete(id);
      S.order = S.order.filter((id) => !gone.has(id));
    }
    scheduleRender();
  }
  function connect() {
    const es = new EventSource('/v1/events?stream=1&status=1&since=' + S.lastEventId);
    const live = $('#live');
    es.onopen = () => { live.textContent = 'live'; live.className = 'live on js-only'; };
    es.onerror = () => { live.textContent = 'reconnecting…'; live.className = 'live js-only'; };
    es.addEventListener('status', (ev) => applyStatus(JSON.parse(ev.data)));
    es.onmessage = (ev) => {
      const e = JSON.parse(ev.data);
      S.lastEventId = Math.max(S.lastEventId, e.id || 0);
      S.events.push(e);
      if (S.events.length > 500) S.events.splice(0, S.events.length - 500);
      if (view && view.onEvent) view.onEvent(e);
      scheduleRender();
    };
  }

  async function start() {
    document.body.classList.add('js');
    $('#reconcile').addEventListener('click', () => reconcile(null));
    window.addEventListener('hashchange', route);
    try {
      S.events = await getJSON('/v1/events?tail=200');
      for (const e of S.events) S.lastEventId = Math.max(S.lastEventId, e.id || 0);
    } catch (e) { /* the stream still starts */ }
    route();
    connect();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
