// The server page's live charts: rates and quantiles from two consecutive GET /v1/server answers,
// drawn as small SVG line charts (geometry in SVG attributes: the page's CSP allows no inline styles).
import { html, svg } from './vendor/lit-html/lit-html.js';

/** Rcodes in the order the DNS chart lists them; others follow as they appear. */
const RCODES = ['NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL', 'FORMERR', 'NOTIMP'];

/** The q-quantile (µs) of the answer times counted between two answers, or null without samples. */
export function quantile(bounds, before, after, q) {
  const counts = after.counts.map((count, i) => count - (before.counts[i] ?? 0));
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] <= 0) continue;
    if (seen + counts[i] >= rank) {
      // Within the bucket [bounds[i-1], bounds[i]), geometrically: buckets are powers of two.
      const low = i === 0 ? bounds[0] / 2 : bounds[i - 1];
      const fraction = (rank - seen) / counts[i];
      return low * (bounds[i] / low) ** fraction;
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1];
}

/** One point of every chart, from the server's answers at two times. */
export function serverSample(before, after) {
  const seconds = Math.max(0.001, (Date.parse(after.now) - Date.parse(before.now)) / 1000);
  const rate = (a, b) => Math.max(0, (a - b) / seconds);
  const replies = {};
  for (const [rcode, count] of Object.entries(after.dns.replies)) replies[rcode] = rate(count, before.dns.replies[rcode] ?? 0);
  const { boundsMicros: bounds, zone, forwarded } = after.dns.answerTime;
  return {
    at: Date.parse(after.now),
    replies,
    zoneP50: quantile(bounds, before.dns.answerTime.zone, zone, 0.5),
    zoneP99: quantile(bounds, before.dns.answerTime.zone, zone, 0.99),
    forwardedP50: quantile(bounds, before.dns.answerTime.forwarded, forwarded, 0.5),
    registrations: rate(after.registry.events.register, before.registry.events.register),
    deregistrations: rate(after.registry.events.deregister, before.registry.events.deregister),
    heartbeats: rate(after.registry.heartbeats, before.registry.heartbeats),
    watches: after.watches.open,
    instances: after.registry.instances,
    storeAvailable: after.store.available,
  };
}

/** Which rcodes the DNS chart shows: those seen in the history, known ones first. */
export function rcodesSeen(samples) {
  const seen = new Set(samples.flatMap((sample) => Object.keys(sample.replies)));
  return [...RCODES.filter((rcode) => seen.has(rcode)), ...[...seen].filter((rcode) => !RCODES.includes(rcode)).sort()];
}

const WIDTH = 300;
const HEIGHT = 72;

/**
 * A line chart: `series` is [{ name, values (null: no data), tone }], newest value last; `format`
 * prints a value. The y axis runs from 0 to the largest value shown.
 */
export function lineChart({ title, series, format, points = 120, note = '' }) {
  const all = series.flatMap((line) => line.values.filter((value) => value !== null));
  const max = Math.max(...all, 0) || 1;
  const x = (i, length) => WIDTH - ((length - 1 - i) * WIDTH) / (points - 1);
  const y = (value) => HEIGHT - 2 - (value / max) * (HEIGHT - 4);
  const path = (values) => {
    let d = '';
    let pen = false;
    values.forEach((value, i) => {
      if (value === null) return void (pen = false);
      d += `${pen ? 'L' : 'M'}${x(i, values.length).toFixed(1)},${y(value).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  return html`<figure class="chart">
    <figcaption>${title}${note ? html` <span class="muted">${note}</span>` : ''}</figcaption>
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label=${title}>
      <line class="axis" x1="0" y1=${HEIGHT - 1} x2=${WIDTH} y2=${HEIGHT - 1}></line>
      ${series.map((line) => svg`<path class="line tone-${line.tone}" d=${path(line.values)}></path>`)}
    </svg>
    <ul class="legend">
      ${series.map((line) => {
        const last = line.values.at(-1);
        return html`<li><span class="swatch tone-${line.tone}"></span>${line.name} <b>${last === null || last === undefined ? '–' : format(last)}</b></li>`;
      })}
      <li class="muted">max ${format(max)}</li>
    </ul>
  </figure>`;
}

/** A strip of up/down samples: the store's reachability over time. */
export function availabilityStrip(samples, points = 120) {
  const width = WIDTH / points;
  return svg`<svg class="strip" viewBox="0 0 ${WIDTH} 8" preserveAspectRatio="none" role="img" aria-label="store reachability over time">
    ${samples.map((sample, i) => svg`<rect x=${WIDTH - (samples.length - i) * width} y="0" width=${width} height="8" class=${sample.storeAvailable ? 'up' : 'down'}></rect>`)}
  </svg>`;
}
