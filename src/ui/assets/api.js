// The HTTP API as the console calls it: relative to the page (so a proxy may mount Signpost under a
// path), the token (if any) as a bearer header, and every refusal as an error carrying the server's
// own message.

/** The server's root: the console lives at <root>/ui/. */
const ROOT = new URL('../', location.href);
const TOKEN_KEY = 'signpost.token';

/** The token lives in sessionStorage: this tab only, gone when it closes, never in a cookie. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export function apiUrl(path) {
  return new URL(path, ROOT);
}

/** Headers every call sends: the bearer token when there is one. */
export function authHeaders() {
  const value = token.get();
  return value ? { authorization: `Bearer ${value}` } : {};
}

/** A call the server refused (or could not be made): `status` 0 when it never reached the server. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(apiUrl(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, `the server cannot be reached (${error.message})`);
  }
  if (response.status === 204) return null;
  const json = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, json?.message ?? `${response.status} ${response.statusText}`);
  return json;
}

const segment = encodeURIComponent;

export const api = {
  services: () => call('GET', 'v1/services'),
  service: (name) => call('GET', `v1/services/${segment(name)}`),
  server: () => call('GET', 'v1/server'),
  maintenance: (service, id, enabled, reason) =>
    call('PUT', `v1/services/${segment(service)}/instances/${segment(id)}/maintenance`, { enabled, reason }),
  deregister: (service, id) => call('DELETE', `v1/services/${segment(service)}/instances/${segment(id)}`),
  settings: (service, settings) => call('PUT', `v1/services/${segment(service)}/settings`, settings),
};
