/**
 * A hash router (`/ui/#/functions/hello?namespace=default`): the gateway serves one
 * index.html, and a reload or a shared link lands on the same page.
 */
import { useEffect, useState } from 'react';

export interface Route {
  /** The path after `#`, e.g. `/functions/hello`. */
  path: string;
  /** Path segments, e.g. ['functions', 'hello']. */
  segments: string[];
  query: URLSearchParams;
}

function current(): Route {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, search = ''] = hash.split('?', 2) as [string, string?];
  return { path, segments: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

/** The current route; re-renders on navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = () => setRoute(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Goes to `path` (e.g. `/functions/hello`). */
export function navigate(path: string): void {
  window.location.hash = path;
}

/** `#/…` href for links. */
export function href(path: string): string {
  return `#${path}`;
}

/** Path of a function's detail page. */
export function functionPath(name: string, namespace = 'openfaas-fn'): string {
  return `/functions/${encodeURIComponent(name)}${namespace && namespace !== 'openfaas-fn' ? `?namespace=${encodeURIComponent(namespace)}` : ''}`;
}
