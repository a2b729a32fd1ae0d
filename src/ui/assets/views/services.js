// Every service: instance and healthy counts, tags, protection; a filter; services with no healthy
// instance stand out.
import { html } from '../vendor/lit-html/lit-html.js';
import { repeat } from '../vendor/lit-html/directives/repeat.js';
import { live } from '../vendor/lit-html/directives/live.js';
import { percent } from '../format.js';

function matches(service, filter) {
  if (!filter) return true;
  const needle = filter.toLowerCase();
  return service.name.includes(needle) || service.tags.some((tag) => tag.includes(needle));
}

export function servicesPage(state, actions) {
  if (state.servicesError && !state.services) return html`<p class="error">Cannot read the services: ${state.servicesError.message}</p>`;
  if (!state.services) return html`<p class="muted">Loading…</p>`;
  const all = state.services;
  const shown = all.filter((service) => matches(service, state.filter.trim()));
  const down = all.filter((service) => service.healthy === 0).length;
  const instances = all.reduce((sum, service) => sum + service.instances, 0);
  return html`<section>
    <div class="page-head">
      <h1>Services</h1>
      <p class="muted">${all.length} services, ${instances} instances${down ? html`, <b class="bad">${down} with no healthy instance</b>` : ''}</p>
      <input class="filter" type="search" placeholder="Filter by name or tag" aria-label="Filter services" .value=${live(state.filter)} @input=${(event) => actions.setFilter(event.target.value)}>
    </div>
    ${all.length === 0
      ? html`<p class="empty">No service is registered yet. Register one with <code>PUT /v1/services/NAME/instances/ID</code>; it appears here at once.</p>`
      : html`<table class="services">
          <thead><tr><th>Service</th><th class="num">Instances</th><th class="num">Healthy</th><th>Tags</th><th>Protection</th></tr></thead>
          <tbody>
            ${repeat(shown, (service) => service.name, (service) => serviceRow(service))}
          </tbody>
        </table>
        ${shown.length === 0 ? html`<p class="empty">No service matches “${state.filter}”.</p>` : ''}`}
  </section>`;
}

function serviceRow(service) {
  const down = service.healthy === 0;
  return html`<tr class=${down ? 'down' : ''} data-service=${service.name}>
    <td><a href="#/services/${encodeURIComponent(service.name)}">${service.name}</a>${down ? html` <span class="badge critical">no healthy instance</span>` : ''}</td>
    <td class="num">${service.instances}</td>
    <td class="num">${service.healthy}</td>
    <td>${service.tags.map((tag) => html`<span class="tag">${tag}</span> `)}</td>
    <td>${service.protection.tripped
      ? html`<span class="badge warning" title="DNS answers with every instance not in maintenance">tripped: ${percent(service.protection.healthyShare)} healthy</span>`
      : html`<span class="muted">–</span>`}</td>
  </tr>`;
}
