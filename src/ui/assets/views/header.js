// The frame around every page: navigation, the connection and token status, the banner when the
// event stream is lost, and the notice of the last action.
import { html } from '../vendor/lit-html/lit-html.js';
import { canWrite } from '../state.js';
import { clock, duration } from '../format.js';

export function header(state, actions) {
  const { route, server } = state;
  const tab = (page, href, label) => html`<a href=${href} class=${route.page === page || (page === 'services' && route.page === 'service') ? 'current' : ''}>${label}</a>`;
  return html`<header class="top">
    <a class="brand" href="#/"><img src="favicon.svg" alt="" width="22" height="22"> Signpost</a>
    <nav>${tab('services', '#/', 'Services')} ${tab('server', '#/server', 'Server')}</nav>
    <span class="grow"></span>
    ${server ? html`<span class="muted" title="zone">${server.config.domain}.</span>` : ''}
    ${linkBadge(state)} ${tokenStatus(state, actions)}
  </header>`;
}

function linkBadge({ link }) {
  const text = { connecting: 'connecting…', live: 'live', lost: 'reconnecting…', unauthorized: 'needs a token' }[link.status];
  return html`<span class="link link-${link.status}" title="the event stream (GET /v1/watch)">● ${text}</span>`;
}

function tokenStatus(state, actions) {
  if (state.hasToken) {
    return html`<span class="token">Token set (this tab) <button class="link-button" @click=${actions.forgetToken}>Forget</button></span>`;
  }
  if (state.server?.config.tokens.writes === false) {
    return html`<span class="token warn" title="start the server with --token-file to require a token for writes">Writes open: no --token-file</span>`;
  }
  return html`<span class="token">Read-only <button @click=${() => actions.openDialog({ kind: 'token' })}>Enter token</button></span>`;
}

/** Above the page: the lost-connection banner, why reads are refused, the read-only note, and the last action's outcome. */
export function banners(state, actions) {
  const { link, notice } = state;
  const now = Date.now();
  return html`
    ${link.status === 'lost'
      ? html`<div class="banner lost" role="alert">
          <b>Connection to the server lost</b> at ${clock(link.since)} (${link.reason}). Reconnecting by itself
          (attempt ${link.attempt}, ${duration(now - link.since)} so far); what changed meanwhile will be caught up.
        </div>`
      : ''}
    ${link.status === 'unauthorized'
      ? html`<div class="banner lost" role="alert">
          <b>This server needs a token to read</b>: ${link.reason}.
          <button @click=${() => actions.openDialog({ kind: 'token' })}>Enter token</button>
        </div>`
      : ''}
    ${state.server && !canWrite(state)
      ? html`<p class="readonly">Read-only: without a token the console shows everything but changes nothing. Enter a token to put instances in maintenance, deregister them or change settings.</p>`
      : ''}
    ${notice
      ? html`<div class="notice ${notice.kind}" role=${notice.kind === 'error' ? 'alert' : 'status'}>
          <span>${notice.text}</span> <button class="link-button" @click=${actions.dismissNotice} aria-label="dismiss">×</button>
        </div>`
      : ''}
  `;
}
