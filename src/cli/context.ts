import { KssClient } from '../client/index.js';
import { authorizationHeader, loadCredentials } from './credentials.js';
import { createOutput, type Output } from './output.js';

/** Global options every command sees. */
export interface GlobalOptions {
  gateway?: string;
  json?: boolean;
}

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

/** Gateway URL: `--gateway`, then `KSS_GATEWAY`, then the stack file's `provider.gateway`, then `OPENFAAS_URL`, then the default. */
export function gatewayUrl(opts: GlobalOptions, fromStack?: string): string {
  return opts.gateway ?? process.env.KSS_GATEWAY ?? fromStack ?? process.env.OPENFAAS_URL ?? DEFAULT_GATEWAY;
}

export interface CommandContext {
  out: Output;
  client(fromStack?: string): KssClient;
}

export function commandContext(opts: GlobalOptions): CommandContext {
  return {
    out: createOutput(Boolean(opts.json)),
    client: (fromStack) => {
      const gateway = gatewayUrl(opts, fromStack);
      return new KssClient({ gateway, authorization: authorizationHeader(loadCredentials(gateway)) });
    },
  };
}

/** URL a function is invoked at (`name.namespace` outside the default namespace). */
export function functionUrl(gateway: string, name: string, namespace?: string): string {
  const q = namespace && namespace !== 'openfaas-fn' ? `${name}.${namespace}` : name;
  return `${gateway.replace(/\/+$/, '')}/function/${q}`;
}
