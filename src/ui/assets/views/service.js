// One service: its traffic split, the DNS names to use, its settings, and its instances.
import { html, svg } from '../vendor/lit-html/lit-html.js';
import { canWrite } from '../state.js';
import { percent, splitHostPort, toneOf } from '../format.js';
import { instancesTable } from './instances.js';

export function servicePage(state, actions) {
  const { route, detail, detailError } = state;
  const crumbs = html`<p class="crumbs"><a href="#/">Services</a> / ${route.name}</p>`;
  if (detailError) {
    const gone = detailError.status === 404;
    return html`${crumbs}<h1>${route.name}</h1>
      <p class=${gone ? 'empty' : 'error'}>${gone ? `No instance of ${route.name} is registered (any more). This page fills again when one registers.` : `Cannot read ${route.name}: ${detailError.message}`}</p>`;
  }
  if (!detail || detail.name !== route.name) return html`${crumbs}<p class="muted">Loading…</p>`;
  const healthy = detail.instances.filter((instance) => instance.status === 'passing' || instance.status === 'warning').length;
  return html`${crumbs}
    <div class="page-head">
      <h1>${detail.name}</h1>
      <p class="muted">${detail.instances.length} instances, ${healthy} healthy
        ${detail.protection.tripped
          ? html` · <span class="badge warning">protection tripped: ${percent(detail.protection.healthyShare)} healthy, DNS answers with every instance not in maintenance</span>`
          : ''}</p>
    </div>
    <div class="columns">
      ${trafficPicture(detail)}
      ${dnsNames(state, detail)}
    </div>
    ${instancesTable(state, actions, detail)}
    ${settingsForm(state, actions, detail)}`;
}

function trafficPicture(detail) {
  const inDns = new Set(detail.traffic.flatMap((tier) => tier.instances.map((entry) => entry.id)));
  const left = detail.instances.filter((instance) => !inDns.has(instance.id));
  return html`<section class="card traffic" aria-label="traffic split">
    <h2>Traffic split</h2>
    <p class="muted">Each instance's share of DNS answers in its priority tier (the chance it is listed first), by the weights DNS publishes now.</p>
    ${detail.traffic.length === 0 ? html`<p class="bad">No instance is in DNS answers: the name answers NXDOMAIN.</p>` : ''}
    ${detail.traffic.map((tier, index) => {
      let offset = 0;
      return html`<div class="tier" data-priority=${tier.priority}>
        <h3>Priority ${tier.priority} ${index === 0 ? html`<span class="muted">· preferred; A/AAAA answers hold this tier only</span>` : html`<span class="muted">· used when the tiers before it are gone</span>`}</h3>
        <svg class="split" viewBox="0 0 1000 20" preserveAspectRatio="none" role="img" aria-label="shares of priority ${tier.priority}">
          ${tier.instances.map((entry) => {
            const x = offset;
            offset += entry.share * 1000;
            return svg`<rect class="tone-fill-${toneOf(detail, entry.id)}" x=${x} y="0" width=${entry.share * 1000} height="20"><title>${entry.id}: ${percent(entry.share)}</title></rect>`;
          })}
        </svg>
        <ul class="shares">
          ${tier.instances.map(
            (entry) => html`<li data-instance=${entry.id}><span class="swatch tone-${toneOf(detail, entry.id)}"></span><span class="id">${entry.id}</span> <span class="muted">weight ${entry.weight}</span> <b class="share">${percent(entry.share)}</b></li>`,
          )}
        </ul>
      </div>`;
    })}
    ${left.length ? html`<p class="muted">Not in DNS answers: ${left.map((instance) => html`<span class="tag">${instance.id} (${instance.status})</span> `)}</p>` : ''}
  </section>`;
}

function dnsNames(state, detail) {
  const domain = state.server?.config.domain ?? 'local';
  const address = splitHostPort(state.server?.config.dns ?? '127.0.0.1:8600');
  // A wildcard listener is reached at whatever address this page was loaded from.
  const host = address.host === '0.0.0.0' || address.host === '::' ? location.hostname.replace(/^\[|\]$/g, '') : address.host;
  const name = `${detail.name}.service.${domain}`;
  const dig = `dig @${host} -p ${address.port} ${name} SRV`;
  const copy = async (event) => {
    const button = event.target;
    try {
      await navigator.clipboard.writeText(dig);
      button.textContent = 'Copied';
    } catch {
      // No clipboard (an insecure origin): select the line so the user can copy it.
      getSelection()?.selectAllChildren(button.previousElementSibling);
    }
  };
  return html`<section class="card dns" aria-label="DNS names">
    <h2>DNS names</h2>
    <dl>
      <dt><code>${name}</code></dt><dd>A/AAAA of the preferred tier, SRV of every healthy instance</dd>
      <dt><code>_${detail.name}._tcp.service.${domain}</code></dt><dd>SRV (RFC 2782)</dd>
      <dt><code>&lt;tag&gt;.${name}</code></dt><dd>only instances with that tag</dd>
      <dt><code>&lt;id&gt;.${detail.name}.instance.${domain}</code></dt><dd>one instance: A/AAAA, and TXT with its meta</dd>
    </dl>
    <p class="copy"><code class="dig">${dig}</code> <button @click=${copy}>Copy</button></p>
  </section>`;
}

function settingsForm(state, actions, detail) {
  const writable = canWrite(state);
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    actions.saveSettings(detail.name, { protectionThreshold: Number(form.get('protectionThreshold')), warmup: Number(form.get('warmup')) });
  };
  return html`<section class="card settings" aria-label="service settings">
    <h2>Settings</h2>
    <form @submit=${submit}>
      <label>Protection threshold
        <input name="protectionThreshold" type="number" min="0" max="1" step="0.05" .value=${String(detail.settings.protectionThreshold)} ?disabled=${!writable}>
        <span class="muted">0 = off; when the healthy share falls to it or below, DNS answers with every instance not in maintenance</span>
      </label>
      <label>Warm-up (seconds)
        <input name="warmup" type="number" min="0" step="1" .value=${String(detail.settings.warmup)} ?disabled=${!writable}>
        <span class="muted">0 = off; a newly healthy instance ramps from 10% to its full weight over this time</span>
      </label>
      ${writable ? html`<button type="submit" class="primary">Save settings</button>` : html`<p class="muted">Read-only: enter a token to change them.</p>`}
    </form>
  </section>`;
}
