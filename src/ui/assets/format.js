// Small pure formatting helpers: times, durations, shares, rates. No DOM.

/** "3 s", "2 min 5 s", "1 h 4 min": a duration in ms, to the second. */
export function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** "just now", "4 s ago". */
export function ago(ms) {
  return ms < 1000 ? 'just now' : `${duration(ms)} ago`;
}

/** 0.25 → "25%", 1/3 → "33.3%", 0.07 → "7%". */
export function percent(share) {
  return `${Math.round(share * 1000) / 10}%`;
}

/** A time in µs: "3.2 µs", "14 ms". */
export function micros(value) {
  if (value === null || value === undefined) return '–';
  if (value < 1000) return `${value < 10 ? value.toFixed(1) : Math.round(value)} µs`;
  const ms = value / 1000;
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** A count per second: "0", "3.5", "1.2k". */
export function perSecond(value) {
  if (value === null || value === undefined) return '–';
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10_000 ? 0 : 1)}k`;
  return value >= 10 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1);
}

/** "127.0.0.1:8600" or "[::1]:8600" → { host, port }. */
export function splitHostPort(text) {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  return match ? { host: match[1], port: Number(match[2]) } : { host: text, port: 53 };
}

/** A time of day: "14:03:07". */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Instances get a colour by their place in the service (sorted by id), the same in the traffic bar and the table. */
export function toneOf(detail, id) {
  return detail.instances.findIndex((instance) => instance.id === id) % 8;
}
