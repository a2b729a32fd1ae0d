// Modal forms: the token, maintenance with a reason, deregistration's confirmation. Each is a
// form whose submit is handled here (never sent anywhere by the browser).
import { html } from './vendor/lit-html/lit-html.js';

const fieldOf = (event, name) => new FormData(event.target).get(name)?.toString() ?? '';

function modal(title, body, onSubmit, actions, submitLabel, danger = false) {
  const submit = (event) => {
    event.preventDefault();
    onSubmit(event);
  };
  return html`<div class="overlay" @click=${(event) => event.target === event.currentTarget && actions.closeDialog()}>
    <form class="dialog" role="dialog" aria-modal="true" aria-label=${title} @submit=${submit} @keydown=${(event) => event.key === 'Escape' && actions.closeDialog()}>
      <h2>${title}</h2>
      ${body}
      <div class="buttons">
        <button type="button" @click=${actions.closeDialog}>Cancel</button>
        <button type="submit" class=${danger ? 'danger' : 'primary'}>${submitLabel}</button>
      </div>
    </form>
  </div>`;
}

export function dialog(state, actions) {
  const open = state.dialog;
  if (!open) return '';
  if (open.kind === 'token') {
    return modal(
      'Enter a token',
      html`<p>A bearer token from the server's <code>--token-file</code>. It is kept in this tab only (sessionStorage) and sent with every request as <code>Authorization: Bearer</code>.</p>
        <label>Token <input name="token" type="password" autocomplete="off" required data-autofocus></label>`,
      (event) => actions.useToken(fieldOf(event, 'token').trim()),
      actions,
      'Use this token',
    );
  }
  if (open.kind === 'maintenance') {
    return modal(
      `Maintenance for ${open.id}`,
      html`<p>Takes <b>${open.id}</b> of <b>${open.service}</b> out of DNS answers until maintenance ends. It stays registered; heartbeats go on.</p>
        <label>Reason <input name="reason" maxlength="256" placeholder="kernel upgrade" data-autofocus></label>`,
      (event) => actions.setMaintenance(open.service, open.id, true, fieldOf(event, 'reason')),
      actions,
      'Start maintenance',
    );
  }
  if (open.kind === 'deregister') {
    return modal(
      `Deregister ${open.id}?`,
      html`<p>Deletes <b>${open.id}</b> of <b>${open.service}</b> at once: it leaves every DNS answer. An instance that still heartbeats gets 404 and should register again.</p>`,
      () => actions.deregister(open.service, open.id),
      actions,
      'Deregister',
      true,
    );
  }
  return '';
}
