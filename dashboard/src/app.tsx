import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { ErrorAlert } from './components/error-alert.js';
import { onUnauthorized, session, type SessionInfo } from './lib/api.js';
import { href, useRoute, type Route } from './lib/router.js';
import { CallsPage } from './pages/calls-page.js';
import { FunctionPage } from './pages/function-page.js';
import { FunctionsPage } from './pages/functions-page.js';
import { LoginPage } from './pages/login-page.js';
import { OverviewPage } from './pages/overview-page.js';

// The wizard carries CodeMirror (most of the bundle): loaded when first opened, not on every page.
const DeployPage = lazy(() => import('./pages/deploy-page.js').then((m) => ({ default: m.DeployPage })));

type SessionState = { kind: 'loading' } | { kind: 'error'; error: unknown } | { kind: 'ready'; session: SessionInfo };

/**
 * The dashboard: checks the session on load, shows the login page when the
 * gateway needs one (and again whenever an API call answers 401), otherwise the
 * header, navigation and the page of the current route.
 */
export function App() {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });

  const reload = useCallback(async () => {
    try {
      setState({ kind: 'ready', session: await session.get() });
    } catch (error) {
      setState({ kind: 'error', error });
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  // The session ended (expired, logged out elsewhere): back to the login page.
  useEffect(
    () => onUnauthorized(() => setState((s) => (s.kind === 'ready' && s.session.authenticated === false && s.session.authRequired ? s : { kind: 'ready', session: { authenticated: false, authRequired: true } }))),
    [],
  );

  if (state.kind === 'loading') return <p className="boot">Loading…</p>;
  if (state.kind === 'error') {
    return (
      <main className="boot">
        <h1>Kube-Serverless</h1>
        <ErrorAlert error={state.error} prefix="Cannot reach the gateway" />
        <button type="button" onClick={() => void reload()}>
          Retry
        </button>
      </main>
    );
  }
  const info = state.session;
  if (info.authRequired && !info.authenticated) return <LoginPage onLoggedIn={reload} />;
  return <Layout session={info} onLoggedOut={reload} />;
}

const NAV = [
  { label: 'Functions', path: '/', match: (r: Route) => r.segments.length === 0 || r.segments[0] === 'functions' },
  { label: 'Deploy', path: '/deploy', match: (r: Route) => r.segments[0] === 'deploy' },
  { label: 'Calls', path: '/calls', match: (r: Route) => r.segments[0] === 'calls' },
  { label: 'Overview', path: '/overview', match: (r: Route) => r.segments[0] === 'overview' },
];

/** Header with the product name, navigation and log-out; the routed page below. */
function Layout({ session: info, onLoggedOut }: { session: SessionInfo; onLoggedOut: () => Promise<void> }) {
  const route = useRoute();
  const [logoutError, setLogoutError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const logout = async () => {
    setBusy(true);
    setLogoutError(undefined);
    try {
      await session.logout();
      await onLoggedOut();
    } catch (err) {
      setLogoutError(err);
      setBusy(false);
    }
  };

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href={href('/')}>
          <span className="brand-mark" aria-hidden="true">λ</span> Kube-Serverless
        </a>
        <nav aria-label="Main" className="app-nav">
          <ul>
            {NAV.map((item) => (
              <li key={item.path}>
                <a href={href(item.path)} aria-current={item.match(route) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="app-user">
          {info.user ? <span className="muted">{info.user}</span> : null}
          {info.authRequired ? (
            <button type="button" className="secondary" onClick={() => void logout()} disabled={busy}>
              Log out
            </button>
          ) : null}
        </div>
      </header>
      {logoutError !== undefined ? (
        <div className="app-main">
          <ErrorAlert error={logoutError} prefix="Log out failed" />
        </div>
      ) : null}
      <main id="main" className="app-main" tabIndex={-1}>
        <RoutedPage route={route} />
      </main>
    </div>
  );
}

/** The page for `route`. */
function RoutedPage({ route }: { route: Route }) {
  const [first, second] = route.segments;
  const namespace = route.query.get('namespace') || undefined;
  if (first === undefined) return <FunctionsPage />;
  if (first === 'functions' && second) return <FunctionPage key={`${namespace ?? ''}/${second}`} name={second} namespace={namespace} />;
  if (first === 'deploy') {
    const edit = route.query.get('edit');
    return (
      <Suspense fallback={<p>Loading the editor…</p>}>
        <DeployPage key={edit ?? ''} edit={edit ? { name: edit, namespace: namespace ?? '' } : undefined} />
      </Suspense>
    );
  }
  if (first === 'calls') return <CallsPage key={second ?? ''} id={second} />;
  if (first === 'overview') return <OverviewPage />;
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{route.path}</code>. <a href={href('/')}>Back to the functions</a>.
      </p>
    </section>
  );
}
