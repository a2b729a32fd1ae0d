// The README's flag table, rendered from FLAGS. `npm run docs` writes it between the markers;
// test/config.test.ts fails when the README's copy differs from what this renders.
import { envName, flagName, FLAGS, type Flag, type FlagKey } from './flags.ts';

export const TABLE_START = '<!-- flags: generated from src/config/flags.ts by `npm run docs`; do not edit -->';
export const TABLE_END = '<!-- /flags -->';

export function flagTable(): string {
  const rows = ['| Flag | Environment | Default | Meaning |', '|---|---|---|---|'];
  for (const [key, spec] of Object.entries(FLAGS) as Array<[FlagKey, Flag<unknown>]>) {
    const name = flagName(key);
    rows.push(`| \`${name}${spec.value ? ` ${spec.value}` : ''}\` | \`${envName(name)}\` | ${defaultCell(spec)} | ${escapeCell(spec.help)} |`);
    if (spec.negation) rows.push(`| \`${spec.negation.name}\` | \`${envName(spec.negation.name)}\` | | ${escapeCell(spec.negation.help)} |`);
  }
  return rows.join('\n');
}

function defaultCell(spec: Flag<unknown>): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.value === undefined) return 'off';
  return spec.default === undefined ? '' : `\`${spec.default}\``;
}

/** A pipe inside a table cell would end the cell. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** `readme` with the text between the markers replaced by the current table. */
export function withFlagTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md: the flag table markers are missing (${TABLE_START} … ${TABLE_END})`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${flagTable()}\n${readme.slice(end)}`;
}
