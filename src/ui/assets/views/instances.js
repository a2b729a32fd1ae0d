// A service's instances: address, weights, health by source, maintenance, warm-up, lease times
// counting live, tags and meta, and the actions a token allows.
import { html, svg } from '../vendor/lit-html/lit-html.js';
import { repeat } from '../vendor/lit-html/directives/repeat.js';
import { canWrite, serverNow } from '../state.js';
import { ago, duration, percent, toneOf } from '../format.js';

const SOURCES = ['lease', 'check', 'maintenance'];

export function instancesTable(state, actions, detail) {
  const now = serverNow(state);
  const writable = canWrite(state);
  return html`<section class="card" aria-label="instances">
    <h2>Instances</h2>
    <table class="instances">
      <thead><tr>
        <th>Instance</th><th>Address</th><th class="num" title="effective (published) / registered">Weight</th><th class="num">Priority</th>
        <th>Status</th><th>Warm-up</th><th>Last heartbeat</th><th>Lease</th>${writable ? html`<th>Actions</th>` : ''}
      </tr></thead>
      <tbody>
        ${repeat(detail.instances, (instance) => instance.id, (instance) => row(state, actions, detail, instance, now, writable))}
      </tbody>
    </table>
  </section>`;
}

function row(state, actions, detail, instance, now, writable) {
  const address = instance.address.includes(':') ? `[${instance.address}]:${instance.port}` : `${instance.address}:${instance.port}`;
  return html`<tr class="status-${instance.status}" data-instance=${instance.id}>
    <td>
      <span class="swatch tone-${toneOf(detail, instance.id)}"></span><b class="id">${instance.id}</b>
      <div class="tags">${instance.tags.map((tag) => html`<span class="tag">${tag}</span> `)}</div>
      ${Object.keys(instance.meta).length
        ? html`<dl class="meta">${Object.entries(instance.meta).map(([key, value]) => html`<div><dt>${key}</dt><dd>${value}</dd></div>`)}</dl>`
        : ''}
    </td>
    <td><code>${address}</code></td>
    <td class="num">${instance.effectiveWeight === instance.weight ? instance.weight : html`${instance.effectiveWeight} <span class="muted">/ ${instance.weight}</span>`}</td>
    <td class="num">${instance.priority}</td>
    <td>
      <span class="badge ${instance.status}">${instance.status}</span>
      <ul class="sources">
        ${SOURCES.filter((source) => instance.health[source]).map((source) => {
          const { status, note } = instance.health[source];
          return html`<li><span class="muted">${source}</span> <span class="dot ${status}"></span>${status}${note ? html`: <span class="note">${note}</span>` : ''}</li>`;
        })}
      </ul>
    </td>
    <td>${warmup(state, detail, instance)}</td>
    <td>${instance.lastHeartbeatAt ? html`<span class="since">${ago(now - Date.parse(instance.lastHeartbeatAt))}</span>` : html`<span class="muted">none</span>`}</td>
    <td>${lease(instance, now)}</td>
    ${writable ? html`<td class="actions">${actionButtons(actions, instance)}</td>` : ''}
  </tr>`;
}

function lease(instance, now) {
  // An active check with no heartbeat yet, or ttl 0 (registered until deregistered).
  if (!instance.expiresAt) return html`<span class="muted">${instance.check ? 'no lease: active check' : 'no lease (ttl 0)'}</span>`;
  const left = Date.parse(instance.expiresAt) - now;
  // Held by another node of the cluster: it counts the heartbeats it takes, this node knows only its last write.
  if (instance.leaseHolder) return html`<span class="muted">held by ${instance.leaseHolder}${left > 0 ? `, at least ${duration(left)} left` : ''}</span>`;
  return left > 0
    ? html`<span class="countdown">expires in ${duration(left)}</span> <span class="muted">(ttl ${instance.ttl} s)</span>`
    : html`<span class="bad">lapsed ${duration(-left)} ago</span>`;
}

function warmup(state, detail, instance) {
  if (!instance.warmingUp) return html`<span class="muted">–</span>`;
  // The server's progress when read, carried forward to now: warm-up is linear in time.
  const elapsed = (Date.now() - (state.detailAt ?? Date.now())) / 1000;
  const progress = Math.min(1, instance.warmingUp.progress + (detail.settings.warmup > 0 ? elapsed / detail.settings.warmup : 0));
  return html`<svg class="progress" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="warm-up ${percent(progress)}">
      <rect class="track" x="0" y="0" width="100" height="8"></rect>${svg`<rect class="done" x="0" y="0" width=${progress * 100} height="8"></rect>`}
    </svg> <span class="warmup">${Math.floor(progress * 100)}%</span>`;
}

function actionButtons(actions, instance) {
  const { service, id } = instance;
  return html`${instance.maintenance
      ? html`<button @click=${() => actions.setMaintenance(service, id, false, '')}>End maintenance</button>
          <div class="muted">reason: ${instance.maintenance.reason || '(none given)'}</div>`
      : html`<button @click=${() => actions.openDialog({ kind: 'maintenance', service, id })}>Maintenance…</button>`}
    <button class="danger" @click=${() => actions.openDialog({ kind: 'deregister', service, id })}>Deregister…</button>`;
}
