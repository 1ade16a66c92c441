export { experienceRoutes, contrastOn, PAGE_LOCALES, type ExperienceDeps } from './experience.routes.js';
