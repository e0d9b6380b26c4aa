/**
 * Wire types of the revisions API (issue #12), shared by the gateway, the SDK, the CLI
 * and the dashboard: what `GET /api/v1/functions/{name}/revisions` answers (and
 * `PUT …/traffic`, `POST …/rollback`), and what `…/revisions/{rev}/pin` answers.
 * The rules (revision ids, splits, canary plans) are in ./revision.ts.
 */
import type { TrafficTarget } from './revision.js';

/** One revision as listed: when and by whom it was made, its code, its share and its replicas. */
export interface RevisionEntry {
  /** `r<number>`. */
  revision: string;
  number: number;
  /** ISO time the revision was made (the deploy that changed the function). */
  createdAt: string;
  /** Who deployed it: the admin user or the token's name. */
  createdBy: string;
  /** The code's content address (`sha256:…`); null for a function without code (an image or `envProcess` only). */
  code: string | null;
  runtime: string;
  /** Pinned revisions are never garbage-collected (otherwise the last 10 are kept). */
  pinned: boolean;
  /** Share of the traffic, 0 when the revision is not in the split. */
  percent: number;
  replicas: number;
  availableReplicas: number;
  /** Requests this revision served since the gateway started. */
  invocationCount: number;
}

/** A canary deploy in progress, as the API shows it. */
export interface CanaryView {
  /** The new revision's first share (the plan's; the gateway may omit it). */
  initialPercent?: number;
  /** The new revision. */
  revision: string;
  /** The revision that served before: it has the rest of the traffic, and all of it on a rollback. */
  from: string;
  /** The new revision's share now. */
  percent: number;
  /** Added at each step that passes. */
  stepPercent: number;
  /** Length of a step. */
  intervalSeconds: number;
  /** Highest error rate (0–1) of the new revision in a step before it is rolled back. */
  maxErrorRate: number;
  /** Highest p99 latency of the new revision in a step, or null for no limit. */
  maxP99Seconds: number | null;
  /** ISO time the current step is judged. */
  nextStepAt: string;
}

/** A function's revisions, its traffic split and its canary (the answer of GET revisions, PUT traffic and POST rollback). */
export interface RevisionsView {
  function: string;
  namespace: string;
  /** The newest revision (the one the last change made; it may not serve yet: a canary). Null before the first revision. */
  latestRevision: string | null;
  /** The split, whole-number percents summing to 100. */
  traffic: TrafficTarget[];
  canary: CanaryView | null;
  /** Newest first. */
  revisions: RevisionEntry[];
}

/** What `GET /system/function/NAME` and the function list add for revisions. Optional: older gateways omit them. */
export interface FunctionRevisionFields {
  latestRevision?: string;
  traffic?: TrafficTarget[];
}
