// The server: version, the settings that shape its answers, the store, and live charts of its figures.
import { html } from '../vendor/lit-html/lit-html.js';
import { availabilityStrip, lineChart, rcodesSeen } from '../charts.js';
import { duration, micros, perSecond } from '../format.js';
import { serverNow } from '../state.js';

const STATUS_TONES = { passing: 2, warning: 3, critical: 1, maintenance: 5 };
const RCODE_TONES = { NOERROR: 2, NXDOMAIN: 3, REFUSED: 5, SERVFAIL: 1, FORMERR: 6, NOTIMP: 7 };

export function serverPage(state) {
  const { server, samples } = state;
  if (!server) return html`<p class="muted">Loading…</p>`;
  const { config, store } = server;
  const series = (pick) => samples.map(pick);
  const rcodes = rcodesSeen(samples);
  return html`<div class="page-head"><h1>Server</h1><p class="muted">Signpost ${server.version} on Node ${server.node}, up ${duration(serverNow(state) - Date.parse(server.startedAt))}</p></div>
    <div class="facts">
      <section class="card" aria-label="settings">
        <h2>Settings</h2>
        <dl class="pairs">
          <dt>Domain</dt><dd><code>${config.domain}.</code></dd>
          <dt>DNS</dt><dd><code>${config.dns}</code> <span class="muted">UDP and TCP</span></dd>
          <dt>HTTP</dt><dd><code>${config.http}</code></dd>
          <dt>Forwarding</dt><dd>${config.forwarding.enabled ? html`on, to ${config.forwarding.upstreams.map((upstream) => html`<code>${upstream}</code> `)}` : 'off: names outside the zone get REFUSED'}</dd>
          <dt>Answer TTL</dt><dd>${config.dnsTtl} s${config.onlyPassing ? ', passing instances only' : ', passing and warning instances'}</dd>
          <dt>Grace period</dt><dd>${config.gracePeriod} s critical before deletion</dd>
          <dt>Tokens</dt><dd>${config.tokens.writes ? `writes need one${config.tokens.reads ? ', reads too' : '; reads are open'}` : 'none: writes are open'}</dd>
        </dl>
      </section>
      <section class="card" aria-label="store">
        <h2>Store</h2>
        <p class="store-state"><b>${store.kind}</b> ${store.available
          ? html`<span class="badge passing">${store.kind === 'etcd' ? 'reachable' : 'available'}</span>`
          : html`<span class="badge critical">unreachable: answering DNS from the last view, writes get 503</span>`}</p>
        ${store.kind === 'etcd' ? html`<p class="muted">${store.endpoints.join(', ')} · prefix <code>${store.prefix}</code></p>` : ''}
        ${availabilityStrip(samples)}
        <p class="muted">registry index ${server.registry.index} · ${server.registry.services} services · ${server.watches.open} of ${server.watches.max} watches open</p>
      </section>
    </div>
    <div class="charts">
      ${lineChart({
        title: 'DNS replies a second, by response code',
        series: rcodes.length ? rcodes.map((rcode) => ({ name: rcode, tone: RCODE_TONES[rcode] ?? 0, values: series((sample) => sample.replies[rcode] ?? 0) })) : [{ name: 'replies', tone: 2, values: series(() => 0) }],
        format: perSecond,
      })}
      ${lineChart({
        title: 'Answer time, zone answers',
        note: `sampled, 1 query in ${server.dns.answerTime.sampleEvery}`,
        series: [
          { name: 'p50', tone: 2, values: series((sample) => sample.zoneP50) },
          { name: 'p99', tone: 3, values: series((sample) => sample.zoneP99) },
          ...(config.forwarding.enabled ? [{ name: 'forwarded p50', tone: 4, values: series((sample) => sample.forwardedP50) }] : []),
        ],
        format: micros,
      })}
      ${lineChart({
        title: 'Registrations and deregistrations a second',
        series: [
          { name: 'registrations', tone: 2, values: series((sample) => sample.registrations) },
          { name: 'deregistrations', tone: 1, values: series((sample) => sample.deregistrations) },
        ],
        format: perSecond,
      })}
      ${lineChart({ title: 'Heartbeats a second (taken by this node)', series: [{ name: 'heartbeats', tone: 4, values: series((sample) => sample.heartbeats) }], format: perSecond })}
      ${lineChart({ title: 'Watchers (event streams and blocking queries)', series: [{ name: 'open', tone: 6, values: series((sample) => sample.watches) }], format: perSecond })}
      ${lineChart({
        title: 'Instances by status',
        series: Object.entries(STATUS_TONES).map(([status, tone]) => ({ name: status, tone, values: series((sample) => sample.instances[status]) })),
        format: perSecond,
      })}
    </div>
    <p class="muted">Charts: the last two minutes, from <code>GET /v1/server</code> once a second (Prometheus: <code>/metrics</code>).</p>`;
}
