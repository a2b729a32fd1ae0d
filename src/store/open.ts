import type { SignpostConfig } from '../config.ts';
import { MemoryStore } from './memory.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

/** The store `config.store` names. Rejects with a StoreError `<path>: <reason>` if it cannot be opened. */
export async function openStore(config: Pick<SignpostConfig, 'store' | 'dataDir'>): Promise<Store> {
  switch (config.store) {
    case 'sqlite':
      return SqliteStore.open(config.dataDir);
    case 'memory':
      return new MemoryStore();
  }
}
