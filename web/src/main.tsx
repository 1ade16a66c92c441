import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { useTranslation } from 'react-i18next';
import './app/i18n';
import './styles.css';
import { api, call } from './api/client';
import { Alert, Loading } from './components/Alert';
import { ExperienceProvider, type Experience } from './lib/experience';
import { useErrorMessage } from './lib/errors';
import { SessionProvider } from './lib/session';
import { routes } from './app/routes';

const router = createBrowserRouter(routes);

/**
 * Loads the server's experience (brand, languages, rules: one call), then draws the page. A failed
 * load says why and offers a retry; never a blank page.
 */
function Root() {
  const [experience, setExperience] = useState<Experience | null>(null);
  const [error, setError] = useState<unknown>(null);
  const message = useErrorMessage();
  const { t } = useTranslation();
  const load = useCallback(() => {
    setError(null);
    call(api.GET('/v1/experience')).then(setExperience, setError);
  }, []);
  useEffect(load, [load]);
  if (error) {
    return (
      <main id="main" className="auth">
        <div className="card auth__card">
          <h1>{t('errorTitle')}</h1>
          <Alert onRetry={load}>{message(error)}</Alert>
        </div>
      </main>
    );
  }
  if (!experience) return <Loading />;
  return (
    <ExperienceProvider value={experience}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </ExperienceProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
