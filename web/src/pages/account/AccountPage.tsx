import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, NavLink, Route, Routes, useLocation, useNavigate } from 'react-router';
import '../../locales/account-area';
import { api, call } from '../../api/client';
import { Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Brand, LanguageSwitcher, useTitle } from '../../components/Layout';
import { StepUpProvider } from '../../components/StepUp';
import { useExperience } from '../../lib/experience';
import { useSession } from '../../lib/session';
import { NotificationsSection, UnreadBadge } from './NotificationsSection';
import { OrganizationsSection } from './OrganizationsSection';
import { ProfileSection } from './ProfileSection';
import { SecuritySection } from './SecuritySection';
import { SessionsSection } from './SessionsSection';
import { ConnectedAppsSection } from './ConnectedAppsSection';

const SECTIONS = ['profile', 'security', 'sessions', 'apps', 'notifications', 'organizations'] as const;
type Section = (typeof SECTIONS)[number];

/** The path of a section: the profile is the account center's front page. */
const pathOf = (section: Section) => (section === 'profile' ? '/account' : `/account/${section}`);

/**
 * /account: the account center. Signed-out visitors go to sign-in (and come back); a person whom
 * policy makes enrol a second factor is walked through it first (/mfa/enroll).
 */
export function Page() {
  const { t } = useTranslation('account');
  const { state, signOut } = useSession();
  const { mfa_required: mfaRequired } = useExperience();
  const location = useLocation();
  const navigate = useNavigate();
  const [enrolChecked, setEnrolChecked] = useState(mfaRequired === 'off');
  /** Set while this person signs out: the session ends first, then /sign-in (a sign-in there must not race the logout's cookie-clearing answer). */
  const [leaving, setLeaving] = useState(false);
  useTitle(t('title'));

  useEffect(() => {
    if (state.status !== 'signed-in' || enrolChecked) return;
    call(api.GET('/v1/me/mfa')).then(
      (status) => (status.enrollment_required ? navigate('/mfa/enroll', { replace: true }) : setEnrolChecked(true)),
      () => setEnrolChecked(true),
    );
  }, [state.status, enrolChecked, navigate]);

  if (state.status === 'loading' || (state.status === 'signed-in' && !enrolChecked)) return <Loading />;
  if (state.status !== 'signed-in') {
    if (leaving) return <Navigate to="/sign-in" replace />;
    return <Navigate to={`/sign-in?return_to=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  return (
    <StepUpProvider>
      <div className="app">
        <a className="skip" href="#main">
          {t('common:skipToContent')}
        </a>
        <header className="app__header">
          <Brand />
          <div className="app__header-end">
            <span className="app__user">{state.user.name ?? state.user.email}</span>
            <LanguageSwitcher />
            <Button
              variant="secondary"
              busy={leaving}
              onClick={() => {
                setLeaving(true);
                void signOut();
              }}
            >
              {t('common:signOut')}
            </Button>
          </div>
        </header>
        <div className="app__body">
          <nav className="app__nav" aria-label={t('nav.label')}>
            <ul>
              {SECTIONS.map((section) => (
                <li key={section}>
                  <NavLink to={pathOf(section)} end>
                    {t(`nav.${section}`)}
                    {section === 'notifications' ? <UnreadBadge /> : null}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <main id="main" className="app__main" tabIndex={-1}>
            <Routes>
              <Route index element={<ProfileSection />} />
              <Route path="security" element={<SecuritySection />} />
              <Route path="sessions" element={<SessionsSection />} />
              <Route path="apps" element={<ConnectedAppsSection />} />
              <Route path="notifications" element={<NotificationsSection />} />
              <Route path="organizations" element={<OrganizationsSection />} />
              <Route path="*" element={<Navigate to="/account" replace />} />
            </Routes>
          </main>
        </div>
      </div>
    </StepUpProvider>
  );
}
