// The console's state and everything that changes it: the route, what the server said last, the
// event stream's status, the token, dialogs and notices. Views only read it and call `actions`.
// Live data: every event re-reads what it touched (one request at a time per resource, the last
// change always read), so what is on screen is what the API says, never a local guess.
import { api, ApiError, token } from './api.js';
import { followEvents } from './events.js';
import { serverSample } from './charts.js';

/** Samples of the server's figures kept for the charts (one a second). */
const HISTORY = 120;
/** Heartbeats change no index and send no event: an open service is re-read this often for its lease times. */
const SERVICE_POLL_MS = 2000;
const SERVER_POLL_MS = 1000;

export function parseRoute(hash) {
  const service = /^#\/services\/([^/]+)$/.exec(hash);
  if (service) {
    // A hand-edited link may hold a bad escape (`%E0`): it names no service, so the list is shown.
    try {
      return { page: 'service', name: decodeURIComponent(service[1]) };
    } catch {
      return { page: 'services' };
    }
  }
  if (hash === '#/server') return { page: 'server' };
  return { page: 'services' };
}

/** Runs `task` one at a time; asked again while running, it runs once more afterwards (so the last change is always read). */
function serialised(task) {
  let running = null;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await task();
      } while (again);
    })().finally(() => (running = null));
    return running;
  };
}

export function createConsole(changed) {
  const state = {
    route: parseRoute(location.hash),
    /** The event stream: connecting, live, lost (reconnecting), unauthorized (reads need a token). */
    link: { status: 'connecting', since: Date.now(), reason: '', attempt: 0 },
    hasToken: token.get() !== null,
    server: null,
    /** Server clock minus ours, so countdowns follow the server's clock. */
    clockOffset: 0,
    samples: [],
    services: null,
    servicesError: null,
    filter: '',
    detail: null,
    detailError: null,
    dialog: null,
    notice: null,
    busy: false,
  };
  const set = (patch) => {
    Object.assign(state, patch);
    changed();
  };

  const refreshServices = serialised(async () => {
    try {
      const { services } = await api.services();
      set({ services, servicesError: null });
    } catch (error) {
      set({ servicesError: error });
    }
  });

  const refreshDetail = serialised(async () => {
    const { route } = state;
    if (route.page !== 'service') return;
    try {
      const detail = await api.service(route.name);
      if (state.route.page === 'service' && state.route.name === route.name) set({ detail, detailError: null, detailAt: Date.now() });
    } catch (error) {
      if (state.route.page === 'service' && state.route.name === route.name) set({ detail: null, detailError: error });
    }
  });

  let previousFigures = null;
  const refreshServer = serialised(async () => {
    try {
      const server = await api.server();
      const clockOffset = Date.parse(server.now) - Date.now();
      const sample = previousFigures ? serverSample(previousFigures, server) : null;
      previousFigures = server;
      const samples = sample ? [...state.samples.slice(-(HISTORY - 1)), sample] : state.samples;
      set({ server, clockOffset, samples });
    } catch {
      // The banner speaks for lost connections; the figures wait for the next poll.
    }
  });

  const refreshAll = () => {
    void refreshServices();
    void refreshDetail();
    void refreshServer();
  };

  const stream = followEvents({
    onEvent({ type, data }) {
      if (type === 'hello') return;
      if (type === 'reset' || !data?.service) return refreshAll();
      void refreshServices();
      if (state.route.page === 'service' && state.route.name === data.service) void refreshDetail();
    },
    onStatus(status, detail) {
      set({ link: { status, since: Date.now(), reason: detail.reason ?? '', attempt: detail.attempt ?? 0 } });
      // Connected (or back): read everything again. Missed events replay too, but lease times and
      // figures change without events.
      if (status === 'live') refreshAll();
    },
  });

  addEventListener('hashchange', () => {
    const route = parseRoute(location.hash);
    set({ route, detail: null, detailError: null, notice: null, dialog: null });
    if (route.page === 'service') void refreshDetail();
    if (route.page === 'server') void refreshServer();
  });

  setInterval(() => {
    if (document.hidden) return;
    void refreshServer();
  }, SERVER_POLL_MS);
  setInterval(() => {
    if (document.hidden || state.route.page !== 'service') return;
    void refreshDetail();
  }, SERVICE_POLL_MS);

  /** Runs a write; shows what the server said either way. */
  const act = async (work, done) => {
    set({ busy: true });
    try {
      await work();
      set({ busy: false, dialog: null, notice: { kind: 'done', text: done } });
    } catch (error) {
      const status = error instanceof ApiError && error.status ? ` (${error.status})` : '';
      set({ busy: false, dialog: null, notice: { kind: 'error', text: `Refused${status}: ${error.message}` } });
    }
    void refreshDetail();
    void refreshServices();
  };

  const actions = {
    setFilter: (filter) => set({ filter }),
    openDialog: (dialog) => set({ dialog, notice: null }),
    closeDialog: () => set({ dialog: null }),
    dismissNotice: () => set({ notice: null }),
    useToken(value) {
      token.set(value);
      set({ hasToken: true, dialog: null, notice: { kind: 'done', text: 'Token kept for this tab: the server checks it when you act.' } });
      stream.restart();
      refreshAll();
    },
    forgetToken() {
      token.clear();
      set({ hasToken: false, notice: { kind: 'done', text: 'Token forgotten: the console is read-only.' } });
      stream.restart();
      refreshAll();
    },
    setMaintenance: (service, id, enabled, reason) =>
      act(() => api.maintenance(service, id, enabled, reason), enabled ? `${id} is in maintenance: out of DNS answers.` : `${id} is out of maintenance.`),
    deregister: (service, id) => act(() => api.deregister(service, id), `${id} was deregistered.`),
    saveSettings: (service, settings) => act(() => api.settings(service, settings), `Settings of ${service} saved.`),
  };

  refreshAll();
  return { state, actions };
}

/** Whether the console may offer writes: with a token, or on a server whose writes are open (no --token-file). */
export function canWrite(state) {
  return state.hasToken || state.server?.config.tokens.writes === false;
}

/** The server's clock now, by the offset measured at the last poll. */
export function serverNow(state) {
  return Date.now() + state.clockOffset;
}
