import { errorText } from '../lib/api.js';

/** An API failure as a `role="alert"` message (nothing when `error` is undefined). */
export function ErrorAlert({ error, prefix }: { error: unknown; prefix?: string }) {
  if (error === undefined || error === null) return null;
  return (
    <p role="alert" className="alert alert-error">
      {prefix ? `${prefix}: ` : ''}
      {errorText(error)}
    </p>
  );
}
