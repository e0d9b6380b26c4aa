/**
 * The secret actions both API surfaces call: list, create, update, remove. It owns
 * the one rule that spans secrets and functions: a secret a deployed function lists
 * cannot be deleted (`KSS_SECRET_IN_USE`), because the function's next replica start
 * would then fail. Logs carry names only.
 */
import type { Logger } from 'pino';
import { KssError } from '../core/index.js';
import { parseSecretRequest } from './secret-request.js';
import { nsFlag, secretNotFound, type SecretInfo } from './secret-store.js';
import type { SecretBackend } from './secret-backend.js';

export interface SecretServiceOptions {
  /** Where values live: the SQLite store here, Kubernetes Secrets on a cluster. */
  store: SecretBackend;
  /**
   * Functions (names) in `namespace` whose spec lists secret `name`, including deploys
   * in progress. Must answer synchronously, so the check and the delete are one step.
   */
  usedBy: (namespace: string, name: string) => string[];
  logger: Logger;
}

export class SecretService {
  readonly #store: SecretBackend;
  readonly #usedBy: (namespace: string, name: string) => string[];
  readonly #logger: Logger;

  constructor(options: SecretServiceOptions) {
    this.#store = options.store;
    this.#usedBy = options.usedBy;
    this.#logger = options.logger;
  }

  /** Secrets of one namespace (names and times, never values). */
  list(namespace: string): Promise<SecretInfo[]> {
    return this.#store.list(namespace);
  }

  /** Creates a secret from an OpenFaaS `Secret` body; `KSS_SECRET_EXISTS` when it is there. */
  async create(body: unknown, queryNamespace?: string): Promise<SecretInfo> {
    const req = parseSecretRequest(body, queryNamespace, true);
    try {
      const info = await this.#store.create(req.namespace, req.name, req.value!);
      this.#logger.info({ secret: `${req.name}.${req.namespace}` }, 'secret created');
      return info;
    } finally {
      req.value!.fill(0);
    }
  }

  /** Replaces a secret's value; `KSS_SECRET_NOT_FOUND` when there is none. */
  async update(body: unknown, queryNamespace?: string): Promise<SecretInfo> {
    const req = parseSecretRequest(body, queryNamespace, true);
    try {
      const info = await this.#store.update(req.namespace, req.name, req.value!);
      this.#logger.info({ secret: `${req.name}.${req.namespace}` }, 'secret updated');
      return info;
    } finally {
      req.value!.fill(0);
    }
  }

  /**
   * Deletes a secret; `KSS_SECRET_NOT_FOUND` when there is none, `KSS_SECRET_IN_USE`
   * naming the functions that list it.
   */
  async remove(body: unknown, queryNamespace?: string): Promise<void> {
    const { name, namespace } = parseSecretRequest(body, queryNamespace, false);
    // No await between the check and the delete: a deploy naming this secret either
    // registered before the check (409 here) or checks after the delete (400 there).
    const users = this.#usedBy(namespace, name);
    if (users.length) {
      const list = users.slice(0, 20).map((f) => `"${f}"`).join(', ');
      throw new KssError(
        'KSS_SECRET_IN_USE',
        `secret "${name}" is used by function${users.length === 1 ? '' : 's'} ${list}${users.length > 20 ? ` and ${users.length - 20} more` : ''} in namespace "${namespace}"; ` +
          `remove it from their \`secrets:\` and deploy them again (or \`kss remove\` them) first, or change its value with \`kss secret update ${name}${nsFlag(namespace)}\``,
      );
    }
    if (!(await this.#store.remove(namespace, name))) throw secretNotFound(namespace, [name]);
    this.#logger.info({ secret: `${name}.${namespace}` }, 'secret removed');
  }
}
