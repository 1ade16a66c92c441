import { useEffect, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { chooseLanguage } from '../app/i18n';
import { LANGUAGES, type Language } from '../locales';
import { useExperience } from '../lib/experience';

/** The product's logo, or its name as text. */
export function Brand() {
  const { brand } = useExperience();
  return (
    <span className="brand">
      {brand.logo_url ? <img src={brand.logo_url} alt={brand.name} className="brand__logo" /> : <span className="brand__name">{brand.name}</span>}
    </span>
  );
}

/** A <select> of the pages' languages, labelled "Language". */
export function LanguageSwitcher() {
  const { t, i18n } = useTranslation();
  return (
    <label className="lang">
      <span className="lang__label">{t('language')}</span>
      <select value={i18n.language} onChange={(event) => void chooseLanguage(event.target.value as Language)}>
        {LANGUAGES.map((language) => (
          <option key={language} value={language} lang={language}>
            {t(`languages.${language}`)}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Sets the document title: "<page> · <brand>". */
export function useTitle(title: string): void {
  const { brand } = useExperience();
  useEffect(() => {
    document.title = `${title} · ${brand.name}`;
  }, [title, brand.name]);
}

/**
 * The frame of the signed-out pages: the brand above one card holding the page's h1 and form,
 * the language choice below. One main landmark; the first heading names the page.
 */
export function AuthLayout({ title, children, footer }: { title: string; children: ReactNode; footer?: ReactNode }) {
  useTitle(title);
  return (
    <div className="auth">
      <header className="auth__brand">
        <Brand />
      </header>
      <main id="main" className="card auth__card">
        <h1>{title}</h1>
        {children}
      </main>
      {footer ? <div className="auth__footer">{footer}</div> : null}
      <footer className="auth__lang">
        <LanguageSwitcher />
      </footer>
    </div>
  );
}
