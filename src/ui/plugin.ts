// The web console: static files served at /ui/ by the HTTP listener, and / redirecting there.
//
// Every file is named in ASSETS below and read into memory when the plugin registers: a request
// maps to a file by exact name or not at all (nothing is resolved against a directory at request
// time, so no path can escape it), a missing file stops start-up rather than breaking the page, and
// each file is served with a strong ETag. @fastify/static would resolve paths per request and serve
// whole directories, which a dozen fixed files do not need.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { findPackageJSON } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Console files, by path under /ui/, relative to src/ui/assets/ (or its copy beside compiled code). */
const OWN_ASSETS = [
  'index.html',
  'console.css',
  'favicon.svg',
  'app.js',
  'api.js',
  'events.js',
  'state.js',
  'format.js',
  'charts.js',
  'dialogs.js',
  'views/header.js',
  'views/services.js',
  'views/service.js',
  'views/instances.js',
  'views/server.js',
];

/** Files of npm packages the console imports, served from the installed package under /ui/vendor/<package>/. */
const VENDOR_ASSETS: Record<string, string[]> = {
  'lit-html': ['lit-html.js', 'directive.js', 'directive-helpers.js', 'directives/repeat.js', 'directives/live.js'],
  'eventsource-parser': ['dist/stream.js', 'dist/index.js'],
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Only the console's own files run and style the page, and it talks only to this server; no inline
 * script or style (the views set geometry through SVG attributes, never style attributes); no
 * framing, no forms posting anywhere, no <base>. Trusted Types are enforced: the only HTML ever
 * parsed from a string is lit-html's own templates (its "lit-html" policy), so a registry value can
 * only ever become text or an attribute value.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types lit-html',
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Where the console's files are, for a package's `files` list: this folder's `assets/`, and the vendor packages above. */
export const ASSET_DIRECTORY = new URL('./assets/', import.meta.url);

async function loadAssets(): Promise<Map<string, Asset>> {
  const sources: Array<[string, URL]> = OWN_ASSETS.map((path) => [path, new URL(path, ASSET_DIRECTORY)]);
  for (const [name, files] of Object.entries(VENDOR_ASSETS)) {
    // The package as Node resolves it from here: in node_modules beside the sources, or hoisted in an installing project.
    const packageJson = findPackageJSON(name, import.meta.url);
    if (packageJson === undefined) throw new Error(`web console: package ${name} is not installed`);
    for (const file of files) sources.push([`vendor/${name}/${file.replace(/^dist\//, '')}`, new URL(file, pathToFileURL(packageJson))]);
  }
  const assets = new Map<string, Asset>();
  await Promise.all(
    sources.map(async ([path, url]) => {
      const body = await readFile(url).catch((error: Error) => {
        throw new Error(`web console: cannot read ${url.pathname}: ${error.message}`);
      });
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      assets.set(path, { body, type: CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', etag });
    }),
  );
  return assets;
}

/** Routes open without a token even with --read-requires-token: the files hold no registry data (the API calls they make need the token). */
const config = { tokenFree: true };
/** A file's bytes, sent as they are (no JSON serialisation). */
const file = { type: 'string' } as const;

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  const assets = await loadAssets();
  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  app.get('/', { config, schema: { response: { 302: { type: 'null' } } } }, async (_request, reply) => reply.redirect('/ui/', 302));
  app.get('/ui', { config, schema: { response: { 301: { type: 'null' } } } }, async (_request, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/', { config, schema: { response: { 200: file } } }, async (request, reply) => send(request, reply, assets.get('index.html')!));
  app.get<{ Params: { '*': string } }>(
    '/ui/*',
    { config, schema: { params: { type: 'object', properties: { '*': { type: 'string', maxLength: 256 } } }, response: { 200: file } } },
    async (request, reply) => {
      const asset = assets.get(request.params['*']);
      // The API's own 404 (its error shape).
      if (asset === undefined) return reply.callNotFound();
      return send(request, reply, asset);
    },
  );
}
