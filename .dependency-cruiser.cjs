/**
 * The boundaries of ../shared/ARCHITECTURE.md (rule 12), checked by `npm run lint:boundaries`
 * (run by `npm test` and by .ci/run). A module is a folder under src/modules; its index.ts is its
 * only public surface.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'module-through-index',
      comment: 'Another module is imported only through its index.ts (the one exception: a *.tables.ts may import another module\'s *.tables.ts for foreign keys).',
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/', pathNot: '^src/modules/[^/]+/[^/]+\\.tables\\.ts$' },
      to: { path: '^src/modules/([^/]+)/', pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/index\\.ts$'] },
    },
    {
      name: 'tables-only-to-tables',
      comment: 'A *.tables.ts reaches into another module only for that module\'s *.tables.ts.',
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/[^/]+\\.tables\\.ts$' },
      to: { path: '^src/modules/([^/]+)/', pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/[^/]+\\.tables\\.ts$'] },
    },
    {
      name: 'index-exports-no-tables-or-queries',
      comment: 'A module\'s index.ts exports its services, types and route registration, not its tables or raw queries.',
      severity: 'error',
      from: { path: '^src/modules/[^/]+/index\\.ts$' },
      to: { path: '^src/modules/[^/]+/[^/]+\\.(tables|queries)\\.ts$' },
    },
    {
      name: 'platform-not-modules',
      comment: 'src/platform is shared by every module and knows none of them.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/(modules|app)/' },
    },
    {
      name: 'routes-no-queries',
      comment: 'Routes are the HTTP edge: they call services, never queries or the ORM.',
      severity: 'error',
      from: { path: '\\.routes\\.ts$' },
      to: { path: ['\\.queries\\.ts$', '\\.tables\\.ts$', '^node_modules/drizzle-orm/', '^src/platform/db/'] , pathNot: '^src/platform/db/errors\\.ts$' },
    },
    {
      name: 'sql-only-in-queries',
      comment: 'SQL lives in *.queries.ts (and the schema in *.tables.ts): services, routes and the rest of a module never build queries. They may pass a Database or DbHandle on.',
      severity: 'error',
      from: { path: '^src/modules/', pathNot: '\\.(queries|tables)\\.ts$' },
      to: { path: '^node_modules/drizzle-orm/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles (type-only imports, erased at run time, may point back).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-test-code-in-src',
      comment: 'Production code never imports tests or their helpers.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: ['^test/', '\\.test\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
