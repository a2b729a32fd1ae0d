import type { SignpostConfig } from '../config/flags.ts';
import { etcdHosts } from '../config/parse.ts';
import type { EtcdTls } from '../config/tls.ts';
import { MemoryStore } from './memory.ts';
import { SqliteStore } from './sqlite.ts';
import { StoreError, type Store } from '../registry/store.ts';

/** The store `config.store` names (etcd over TLS with `tls`). Rejects with a StoreError `<path>: <reason>` if it cannot be opened. */
export async function openStore(config: Pick<SignpostConfig, 'store' | 'dataDir' | 'etcdPrefix' | 'nodeName'>, tls?: EtcdTls): Promise<Store> {
  const hosts = etcdHosts(config.store);
  if (hosts) {
    // Loaded only when asked for: the etcd client (gRPC) adds start-up time the embedded stores need not pay.
    const { EtcdStore } = await import('./etcd/store.ts');
    return EtcdStore.open(hosts, config.etcdPrefix, config.nodeName, tls);
  }
  switch (config.store) {
    case 'sqlite':
      return SqliteStore.open(config.dataDir);
    case 'memory':
      return new MemoryStore();
    default:
      throw new StoreError(`unknown store ${config.store}`);
  }
}
