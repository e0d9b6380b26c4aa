/**
 * Event triggers declared with a function: the `triggers:` list of stack.yml and the
 * API, and the OpenFaaS annotations that mean the same (`schedule` + `topic:
 * cron-function` for cron; `topic: a,b` for the gateway's message connectors).
 * Parsing here is structural (types, required fields, URL shapes); the cron
 * expression itself and the broker's reachability are checked by the trigger
 * manager at deploy (src/triggers/), which owns croner and the broker clients.
 */
import { KssError } from './errors.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const TRIGGER_TYPES = ['cron', 'mqtt', 'nats', 'rabbitmq'] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

/** Fields every trigger has. */
interface TriggerBase {
  /** Unique within the function (default `<type>` or `<type>-<n>`); names the trigger in the API and metrics. */
  name: string;
  /**
   * `async` (default): each event becomes an async call (durable, retried, in `kss calls`),
   * and the broker's message is acknowledged once the call is stored. `sync`: the function
   * is invoked directly, the message acknowledged only after a 2xx, and the reply published.
   */
  mode: 'async' | 'sync';
  /** Path below the function the event is sent to (default `/`). */
  path: string;
  /** A secret in the function's namespace holding `user:password` (or a NATS token). */
  credentials?: string;
}

export interface CronTrigger extends TriggerBase {
  type: 'cron';
  /** 5 fields (minute precision) or 6 (seconds first), as croner reads them. */
  schedule: string;
  /** IANA zone (`Europe/Berlin`); default UTC. */
  timezone?: string;
  /** `forbid` (default): a tick is skipped while the previous run is unfinished; `allow`: runs may overlap. */
  concurrency: 'forbid' | 'allow';
}

export interface MqttTrigger extends TriggerBase {
  type: 'mqtt';
  url: string;
  /** A topic filter; `+` and `#` wildcards allowed. */
  topic: string;
  qos: 0 | 1;
  /** MQTT protocol: 4 (v3.1.1, default) or 5. */
  protocolVersion: 4 | 5;
  /** sync mode: topic the function's reply is published to. */
  reply?: string;
}

export interface NatsTrigger extends TriggerBase {
  type: 'nats';
  url: string;
  subject: string;
  /** Core NATS queue group (several gateways share the messages). Default `kss`. */
  queueGroup: string;
  /** JetStream: the stream to consume with a durable consumer (ack after the message is handled). */
  stream?: string;
  /** JetStream: durable consumer name (default `kss-<namespace>-<function>-<trigger>`). */
  durable?: string;
  /** JetStream, sync mode: deliveries before a message is given up (default: the function's retry attempts). */
  maxDeliver?: number;
  /** sync mode: subject the reply is published to (a request's own reply subject is used when it has one). */
  reply?: string;
  /** sync mode: subject a message is published to once it is given up. */
  deadLetter?: string;
}

export interface RabbitMqTrigger extends TriggerBase {
  type: 'rabbitmq';
  url: string;
  /** Exchange to bind a queue of our own to (declared as `exchangeType`, durable, when missing). */
  exchange?: string;
  exchangeType: 'topic' | 'direct' | 'fanout' | 'headers';
  /** Binding key (topic wildcards `*`, `#`); default `#`. */
  routingKey?: string;
  /** An existing queue to consume instead of binding one of ours. */
  queue?: string;
  /** Messages unacknowledged at once (prefetch); default 32. */
  prefetch: number;
  /** sync mode: routing key the reply is published with on `exchange` (a message's `replyTo` wins). */
  reply?: string;
  /** Our queue's dead-letter exchange: where a message goes when given up (sync mode). Default `<exchange>.dlx`. */
  deadLetterExchange?: string;
}

export type TriggerSpec = CronTrigger | MqttTrigger | NatsTrigger | RabbitMqTrigger;

/** The OpenFaaS annotation that names a cron connector's function. */
export const CRON_TOPIC = 'cron-function';

const SCHEMES: Record<Exclude<TriggerType, 'cron'>, string[]> = {
  mqtt: ['mqtt:', 'mqtts:', 'ws:', 'wss:'],
  nats: ['nats:', 'tls:'],
  rabbitmq: ['amqp:', 'amqps:'],
};

const TRIGGER_NAME = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

function bad(field: string, message: string): KssError {
  return new KssError('KSS_INVALID_TRIGGER', `${field}: ${message}`);
}

function str(o: Record<string, unknown>, key: string, field: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') {
    if (required) throw bad(`${field}.${key}`, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`${field}.${key}`, 'expected a string');
  if (v.length > 1024) throw bad(`${field}.${key}`, 'longer than 1024 characters');
  return v;
}

function oneOf<T extends string | number>(o: Record<string, unknown>, key: string, field: string, allowed: readonly T[], fallback: T): T {
  const v = o[key];
  if (v === undefined || v === null || v === '') return fallback;
  // YAML and forms give numbers as strings and the other way round.
  const match = allowed.find((a) => String(a) === String(v));
  if (match === undefined) throw bad(`${field}.${key}`, `"${String(v).slice(0, 40)}" is not one of ${allowed.join(', ')}`);
  return match;
}

function brokerUrl(o: Record<string, unknown>, type: Exclude<TriggerType, 'cron'>, field: string): string {
  const raw = str(o, 'url', field, true)!;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(`${field}.url`, `not a URL; expected e.g. ${SCHEMES[type][0]}//127.0.0.1`);
  }
  if (!SCHEMES[type].includes(url.protocol)) throw bad(`${field}.url`, `a ${type} trigger needs a ${SCHEMES[type].map((s) => `${s}//`).join(' or ')} URL, not ${url.protocol}//`);
  if (url.username || url.password) {
    throw bad(`${field}.url`, 'credentials do not go in the URL (specs are listed and logged); put "user:password" in a secret and name it in `credentials`');
  }
  if (!url.hostname) throw bad(`${field}.url`, 'has no host');
  return url.href.replace(/\/$/, '');
}

function positiveInt(o: Record<string, unknown>, key: string, field: string, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) throw bad(`${field}.${key}`, `a whole number from 1 to ${max}`);
  return n;
}

/** MQTT topic filter: `+` fills a whole level, `#` is the whole last level. */
export function validMqttFilter(topic: string): boolean {
  const levels = topic.split('/');
  return levels.every((l, i) => (!l.includes('+') || l === '+') && (!l.includes('#') || (l === '#' && i === levels.length - 1))) && !topic.includes('\0');
}

/** NATS subject: non-empty tokens separated by '.', `*` a whole token, `>` the whole last token. */
export function validNatsSubject(subject: string): boolean {
  if (/\s/.test(subject)) return false;
  const tokens = subject.split('.');
  return tokens.every((t, i) => t !== '' && (!t.includes('*') || t === '*') && (!t.includes('>') || (t === '>' && i === tokens.length - 1)));
}

/** Parses one entry of `triggers`. `index` and `used` make default names unique. */
function parseOne(input: unknown, index: number, used: Set<string>): TriggerSpec {
  const field = `triggers[${index}]`;
  if (!isPlainObject(input)) throw bad(field, 'expected an object with a `type`');
  const o = input;
  const type = o.type;
  if (typeof type !== 'string' || !(TRIGGER_TYPES as readonly string[]).includes(type)) {
    throw bad(`${field}.type`, `"${String(type ?? '').slice(0, 40)}" is not a trigger type; known types: ${TRIGGER_TYPES.join(', ')}`);
  }
  let name = str(o, 'name', field);
  if (name !== undefined && !TRIGGER_NAME.test(name)) throw bad(`${field}.name`, `"${name.slice(0, 60)}" is not a valid trigger name: at most 40 lower-case letters, digits and '-'`);
  if (name === undefined) {
    name = type;
    for (let n = 2; used.has(name); n++) name = `${type}-${n}`;
  }
  if (used.has(name)) throw bad(`${field}.name`, `"${name}" is used by another trigger of this function; names must be unique`);
  used.add(name);
  const path = str(o, 'path', field) ?? '/';
  if (!path.startsWith('/') || /\s/.test(path)) throw bad(`${field}.path`, 'must start with "/" and contain no spaces');
  const base = {
    name,
    mode: oneOf(o, 'mode', field, ['async', 'sync'] as const, 'async'),
    path,
    ...(str(o, 'credentials', field) !== undefined ? { credentials: str(o, 'credentials', field)! } : {}),
  };
  const opt = <K extends string>(key: K, v: string | number | undefined) => (v === undefined ? {} : ({ [key]: v } as Record<K, string | number>));
  switch (type as TriggerType) {
    case 'cron': {
      if (base.credentials) throw bad(`${field}.credentials`, 'a cron trigger has no broker to log in to');
      const schedule = str(o, 'schedule', field, true)!.trim().replace(/\s+/g, ' ');
      const fields = schedule.split(' ').length;
      if (!schedule.startsWith('@') && fields !== 5 && fields !== 6) throw bad(`${field}.schedule`, `"${schedule.slice(0, 60)}" has ${fields} fields; use 5 (minute hour day month weekday) or 6 (with seconds first)`);
      return { ...base, type: 'cron', schedule, ...opt('timezone', str(o, 'timezone', field)), concurrency: oneOf(o, 'concurrency', field, ['forbid', 'allow'] as const, 'forbid') } as CronTrigger;
    }
    case 'mqtt': {
      const topic = str(o, 'topic', field, true)!;
      if (!validMqttFilter(topic)) throw bad(`${field}.topic`, `"${topic.slice(0, 60)}": '+' must fill a whole level and '#' must be the last level (e.g. meters/+/reading, meters/#)`);
      return {
        ...base,
        type: 'mqtt',
        url: brokerUrl(o, 'mqtt', field),
        topic,
        qos: oneOf(o, 'qos', field, [0, 1] as const, 1),
        protocolVersion: oneOf(o, 'protocolVersion', field, [4, 5] as const, 4),
        ...opt('reply', str(o, 'reply', field)),
      } as MqttTrigger;
    }
    case 'nats': {
      const subject = str(o, 'subject', field, true)!;
      if (!validNatsSubject(subject)) throw bad(`${field}.subject`, `"${subject.slice(0, 60)}" is not a NATS subject (tokens separated by '.', '*' for one token, '>' last)`);
      const stream = str(o, 'stream', field);
      const durable = str(o, 'durable', field);
      if (durable !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(durable)) throw bad(`${field}.durable`, 'letters, digits, "-" and "_" only');
      if (durable !== undefined && stream === undefined) throw bad(`${field}.durable`, 'a durable consumer needs a JetStream `stream`');
      const maxDeliver = positiveInt(o, 'maxDeliver', field, 100);
      return {
        ...base,
        type: 'nats',
        url: brokerUrl(o, 'nats', field),
        subject,
        queueGroup: str(o, 'queueGroup', field) ?? 'kss',
        ...opt('stream', stream),
        ...opt('durable', durable),
        ...opt('maxDeliver', maxDeliver),
        ...opt('reply', str(o, 'reply', field)),
        ...opt('deadLetter', str(o, 'deadLetter', field)),
      } as NatsTrigger;
    }
    case 'rabbitmq': {
      const exchange = str(o, 'exchange', field);
      const queue = str(o, 'queue', field);
      const routingKey = str(o, 'routingKey', field);
      if ((exchange === undefined) === (queue === undefined)) throw bad(field, 'a rabbitmq trigger needs either `exchange` (with an optional `routingKey`) or `queue`, not both');
      if (queue !== undefined && routingKey !== undefined) throw bad(`${field}.routingKey`, 'only with `exchange` (a `queue` is consumed as it is bound)');
      return {
        ...base,
        type: 'rabbitmq',
        url: brokerUrl(o, 'rabbitmq', field),
        ...opt('exchange', exchange),
        exchangeType: oneOf(o, 'exchangeType', field, ['topic', 'direct', 'fanout', 'headers'] as const, 'topic'),
        ...opt('routingKey', routingKey),
        ...opt('queue', queue),
        prefetch: positiveInt(o, 'prefetch', field, 10_000) ?? 32,
        ...opt('reply', str(o, 'reply', field)),
        ...opt('deadLetterExchange', str(o, 'deadLetterExchange', field)),
      } as RabbitMqTrigger;
    }
  }
}

/** Parses a spec's `triggers` list (undefined when absent or empty). */
export function parseTriggers(input: unknown): TriggerSpec[] | undefined {
  if (input === undefined || input === null) return undefined;
  if (!Array.isArray(input)) throw bad('triggers', 'expected a list, e.g. [{ type: cron, schedule: "*/5 * * * *" }]');
  if (input.length > 32) throw bad('triggers', 'at most 32 triggers per function');
  const used = new Set<string>();
  const out = input.map((t, i) => parseOne(t, i, used));
  return out.length ? out : undefined;
}

/**
 * The triggers a function's annotations declare the OpenFaaS way: `topic: cron-function`
 * with `schedule` is a cron trigger named `cron`. Message topics (`topic: a,b`) are
 * returned separately: they bind to whatever connectors the gateway runs.
 */
export function annotationTriggers(annotations: Record<string, string> | undefined): { cron?: CronTrigger; topics: string[] } {
  const topics = (annotations?.topic ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  const schedule = annotations?.schedule?.trim();
  const isCron = topics.includes(CRON_TOPIC);
  if (isCron && !schedule) throw bad('annotations.schedule', 'topic "cron-function" needs a `schedule` annotation such as "*/5 * * * *"');
  const rest = topics.filter((t) => t !== CRON_TOPIC);
  if (!isCron) return { topics: rest };
  const [cron] = parseTriggers([{ type: 'cron', name: 'cron', schedule, timezone: annotations?.timezone }])! as [CronTrigger];
  return { cron, topics: rest };
}

/** Where a trigger listens, for lists and logs (never credentials: URLs carry none). */
export function triggerSource(t: TriggerSpec): string {
  switch (t.type) {
    case 'cron':
      return `${t.schedule}${t.timezone ? ` (${t.timezone})` : ''}`;
    case 'mqtt':
      return `${t.url} ${t.topic}`;
    case 'nats':
      return `${t.url} ${t.subject}${t.stream ? ` (stream ${t.stream})` : ''}`;
    case 'rabbitmq':
      return `${t.url} ${t.queue ? `queue ${t.queue}` : `${t.exchange} ${t.routingKey ?? '#'}`}`;
  }
}
