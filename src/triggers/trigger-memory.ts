/**
 * What a trigger remembers across gateway restarts — a cron trigger's last tick — in
 * the gateway's SQLite database (table `trigger_memory`, migration 6). Writes are
 * synchronous (better-sqlite3): the tick is on disk before the run starts.
 */
import type Database from 'better-sqlite3';

export interface TriggerMemory {
  get(namespace: string, name: string, trigger: string): number | undefined;
  set(namespace: string, name: string, trigger: string, value: number): void;
  /** Forgets a removed function's triggers. */
  forget(namespace: string, name: string): void;
}

export class SqliteTriggerMemory implements TriggerMemory {
  readonly #get: Database.Statement<[string, string, string], { value: number }>;
  readonly #set: Database.Statement<[string, string, string, number]>;
  readonly #forget: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT value FROM trigger_memory WHERE namespace = ? AND name = ? AND trigger = ?');
    this.#set = db.prepare('INSERT INTO trigger_memory (namespace, name, trigger, value) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, name, trigger) DO UPDATE SET value = excluded.value');
    this.#forget = db.prepare('DELETE FROM trigger_memory WHERE namespace = ? AND name = ?');
  }

  get(namespace: string, name: string, trigger: string): number | undefined {
    return this.#get.get(namespace, name, trigger)?.value;
  }

  set(namespace: string, name: string, trigger: string, value: number): void {
    this.#set.run(namespace, name, trigger, value);
  }

  forget(namespace: string, name: string): void {
    this.#forget.run(namespace, name);
  }
}

/** In memory only (tests). */
export class MapTriggerMemory implements TriggerMemory {
  readonly #m = new Map<string, number>();
  get(namespace: string, name: string, trigger: string): number | undefined {
    return this.#m.get(`${namespace}/${name}/${trigger}`);
  }
  set(namespace: string, name: string, trigger: string, value: number): void {
    this.#m.set(`${namespace}/${name}/${trigger}`, value);
  }
  forget(namespace: string, name: string): void {
    for (const k of [...this.#m.keys()]) if (k.startsWith(`${namespace}/${name}/`)) this.#m.delete(k);
  }
}
