// The console's entry point: state, and one render of the whole page per change (lit-html only
// touches what changed), at most once a frame, and once a second for the clocks.
import { render, html } from './vendor/lit-html/lit-html.js';
import { createConsole } from './state.js';
import { banners, header } from './views/header.js';
import { servicesPage } from './views/services.js';
import { servicePage } from './views/service.js';
import { serverPage } from './views/server.js';
import { dialog } from './dialogs.js';

/** Draws the console into `root` and keeps it drawn. */
function startConsole(root) {
  root.replaceChildren();

  let scheduled = false;
  let dialogShown = null;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(draw);
  }

  const { state, actions } = createConsole(schedule);

  function page() {
    if (state.route.page === 'service') return servicePage(state, actions);
    if (state.route.page === 'server') return serverPage(state, actions);
    return servicesPage(state, actions);
  }

  function draw() {
    scheduled = false;
    render(html`${header(state, actions)}<main>${banners(state, actions)}${page()}</main>${dialog(state, actions)}`, root);
    // A dialog that just opened takes the focus.
    if (state.dialog !== dialogShown) {
      dialogShown = state.dialog;
      root.querySelector('[data-autofocus]')?.focus();
    }
  }

  setInterval(schedule, 1000);
  schedule();
}

startConsole(document.getElementById('app'));
