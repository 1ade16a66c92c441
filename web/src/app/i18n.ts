import i18next from 'i18next';
import { initReactI18next } from 'react-i18next';
import { LANGUAGES, resources, type Language } from '../locales';

const STORAGE_KEY = 'tessera.lang';

function supported(tag: string | null | undefined): Language | null {
  if (!tag) return null;
  const base = tag.toLowerCase().split('-')[0] as Language;
  return LANGUAGES.includes(base) ? base : null;
}

/**
 * The language of the pages: `?lang=` (and remembered), else the remembered choice, else the
 * browser's Accept-Language (navigator.languages), else English.
 */
export function initialLanguage(): Language {
  const fromQuery = supported(new URLSearchParams(window.location.search).get('lang'));
  if (fromQuery) {
    remember(fromQuery);
    return fromQuery;
  }
  let stored: string | null = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage may be off (private mode): the choice is then not remembered.
  }
  return supported(stored) ?? navigator.languages.map(supported).find((l): l is Language => l !== null) ?? 'en';
}

function remember(language: Language): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, language);
  } catch {
    // Not remembered; the page still works.
  }
}

/** Switches the language of every page and remembers it. */
export async function chooseLanguage(language: Language): Promise<void> {
  remember(language);
  await i18next.changeLanguage(language);
}

export function rememberedLanguage(): Language | null {
  try {
    return supported(window.localStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

void i18next.use(initReactI18next).init({
  resources,
  lng: initialLanguage(),
  fallbackLng: 'en',
  ns: ['common', 'auth'],
  defaultNS: 'common',
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
});
document.documentElement.lang = i18next.language;
i18next.on('languageChanged', (language) => {
  document.documentElement.lang = language;
});

export default i18next;
