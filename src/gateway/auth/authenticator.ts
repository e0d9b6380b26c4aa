/**
 * Turns an `Authorization` header into a principal: basic auth for the admin
 * account (what faas-cli sends), bearer tokens for everything else. With auth off,
 * every caller is the `anonymous` admin.
 */
import { constantTimeEqual } from './constant-time.js';
import type { Principal } from './scopes.js';
import type { ApiTokens } from './token-store.js';

export interface AuthenticatorOptions {
  /** The admin account; undefined turns authentication off (`kss up --no-auth`). */
  admin?: { username: string; password: string };
  tokens: ApiTokens;
}

export const ADMIN_PRINCIPAL: Principal = Object.freeze({ id: 'admin', name: 'admin', scopes: Object.freeze(['admin'] as const) });
export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ id: 'anonymous', name: 'anonymous (auth disabled)', scopes: Object.freeze(['admin'] as const) });

export class Authenticator {
  readonly #admin: AuthenticatorOptions['admin'];
  readonly #tokens: ApiTokens;

  constructor(options: AuthenticatorOptions) {
    this.#admin = options.admin;
    this.#tokens = options.tokens;
  }

  get enabled(): boolean {
    return this.#admin !== undefined;
  }

  /** The caller, or undefined when the header is missing or its credentials are wrong. */
  authenticate(authorization: string | undefined): Principal | undefined {
    if (!this.#admin) return ANONYMOUS_PRINCIPAL;
    if (!authorization) return undefined;
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return this.#tokens.verify(value);
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return undefined;
      const user = decoded.slice(0, colon);
      const pass = decoded.slice(colon + 1);
      // Both compared, always, so timing tells nothing about which one was wrong.
      const userOk = constantTimeEqual(user, this.#admin.username);
      const passOk = constantTimeEqual(pass, this.#admin.password);
      if (userOk && passOk) return ADMIN_PRINCIPAL;
      // A token is also accepted as the basic-auth password (for tools that only speak basic auth).
      if (pass.startsWith('kss_')) return this.#tokens.verify(pass);
    }
    return undefined;
  }
}
