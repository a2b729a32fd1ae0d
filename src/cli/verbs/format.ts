import type { InstanceRecord } from '../../client/types.ts';

/** Rows as aligned columns, the first row the header; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n');
}


/** The note of the source that made the status what it is (a check's, a heartbeat's, maintenance's reason). */
export function noteOf(instance: Pick<InstanceRecord, 'status' | 'health'>): string {
  const source = Object.values(instance.health).find((health) => health.status === instance.status && health.note !== '');
  return source?.note ?? '';
}
