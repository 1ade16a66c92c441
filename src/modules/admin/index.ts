export { adminRoutes } from './admin.routes.js';
export { createAdminOutboxService, type AdminOutboxService } from './admin.service.js';
