import i18next from 'i18next';
import enAccount from './en/account';
import enNotifications from './en/notifications';
import enOrgs from './en/orgs';
import esAccount from './es/account';
import esNotifications from './es/notifications';
import esOrgs from './es/orgs';

/**
 * The namespaces of the signed-in areas (`account`, `notifications`, `orgs`), added to i18next when
 * a page of those areas loads: import this module from such a page (it is in that page's chunk, not
 * in the first bundle).
 */
const bundles = {
  en: { account: enAccount, notifications: enNotifications, orgs: enOrgs },
  es: { account: esAccount, notifications: esNotifications, orgs: esOrgs },
};
for (const [language, namespaces] of Object.entries(bundles)) {
  for (const [namespace, strings] of Object.entries(namespaces)) {
    if (!i18next.hasResourceBundle(language, namespace)) i18next.addResourceBundle(language, namespace, strings, true, true);
  }
}
