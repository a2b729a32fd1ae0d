// One watch on the whole prefix per node, from the revision of the snapshot it loaded. The etcd3
// client resumes a broken watch from the last revision it saw; if that revision was compacted
// meanwhile, etcd cancels the watch, and the node re-reads the prefix and applies the difference.
import type { Watcher } from 'etcd3';
import { PROBE_INTERVAL_MS, type EtcdConnection } from './connection.ts';
import type { EtcdKeys } from './keys.ts';
import type { EtcdMirror } from './mirror.ts';

export class PrefixWatch {
  readonly #etcd: EtcdConnection;
  readonly #keys: EtcdKeys;
  readonly #mirror: EtcdMirror;
  #watcher: Watcher | undefined;

  constructor(etcd: EtcdConnection, keys: EtcdKeys, mirror: EtcdMirror) {
    this.#etcd = etcd;
    this.#keys = keys;
    this.#mirror = mirror;
  }

  /** Watches from `fromRevision` on, feeding every event to the mirror. */
  start(fromRevision: number): void {
    if (this.#etcd.closed) return;
    this.#mirror.lastRevision = fromRevision - 1;
    void this.#etcd.client
      .watch()
      .prefix(this.#keys.prefix)
      .startRevision(String(fromRevision))
      .create()
      .then(
        (watcher) => {
          if (this.#etcd.closed) return void watcher.cancel();
          this.#watcher = watcher;
          this.#etcd.setAvailable(true);
          watcher.on('data', (response) => {
            for (const event of response.events) this.#mirror.applyEvent(event.type, event.kv);
            this.#mirror.lastRevision = Math.max(this.#mirror.lastRevision, Number(response.header.revision));
          });
          watcher.on('disconnected', () => this.#etcd.setAvailable(false));
          watcher.on('connected', () => this.#etcd.setAvailable(true));
          watcher.on('error', () => {
            // Canceled by etcd: most likely the revision to resume from was compacted. Re-read everything.
            if (this.#etcd.closed) return;
            this.#watcher = undefined;
            void watcher.cancel().catch(() => {});
            void this.#resync();
          });
        },
        () => {
          // etcd is not answering: try again shortly.
          this.#etcd.setAvailable(false);
          setTimeout(() => this.start(fromRevision), PROBE_INTERVAL_MS).unref();
        },
      );
  }

  async close(): Promise<void> {
    await this.#watcher?.cancel().catch(() => {});
  }

  /** Re-reads the prefix, applies the difference with what the mirror knew, and watches on from there. */
  async #resync(): Promise<void> {
    if (this.#etcd.closed) return;
    let response;
    try {
      response = await this.#etcd.call((client) => client.kv.range(this.#keys.range()));
    } catch {
      setTimeout(() => void this.#resync(), PROBE_INTERVAL_MS).unref();
      return;
    }
    this.#mirror.applyResync(response.kvs, Number(response.header.revision));
    this.start(Number(response.header.revision) + 1);
  }
}
