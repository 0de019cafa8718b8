/**
 * The architecture as rules, checked by `npm run check:deps` (part of `npm test`). The layers, from the bottom:
 *
 *   lib/          the domain: data, features, models, validation, registry, serving, monitoring — no Temporal
 *   activities/   Temporal activities: thin wrappers over lib/
 *   workflows/    Temporal workflows: deterministic, sandboxed; lib/ only as types, or its pure modules (below)
 *   client/       Temporal client code that every process shares (connection, starting and signalling workflows)
 *   serve/ worker/  the serving and worker processes
 *   demo/         the demos, which run those processes
 *   cli/          the command line, on top: it runs every command, the demos included
 *   tools/ bench/ test/   (tools/devserver.ts and tools/postgres.ts start local services: any layer may use them)
 *
 * A module may import from its own layer and the layers below it, never above; nothing may import in a circle.
 */

/** lib/ modules a workflow may run: pure (no I/O, no Node built-ins), importing only each other, types and zod */
const PURE = '^lib/(duration|rng|access/statement|access/identity|monitor/policy|model/search)\\.ts$';

/** tools/ is set-up and build tooling, except the helpers that start local services (a dev server, PostgreSQL, a Kafka broker) */
const TOOLS = '^tools/(?!(devserver|postgres|kafka-broker)\\.ts$)';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'modules that import each other (types included) are one module in two files: merge or split them',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-is-the-bottom',
      severity: 'error',
      comment: 'lib/ is the domain: it knows nothing of Temporal, the processes or the command line',
      from: { path: '^lib/' },
      to: { path: '^(activities|workflows|client|serve|worker|cli|demo|tools|bench|test)/' },
    },
    {
      name: 'lib-is-free-of-temporal',
      severity: 'error',
      comment: 'lib/ is the domain: Temporal belongs in activities/, workflows/ and client/',
      from: { path: '^lib/' },
      to: { path: '@temporalio/' },
    },
    {
      name: 'activities-below-the-processes',
      severity: 'error',
      from: { path: '^activities/' },
      to: { path: '^(client|serve|worker|cli|demo|tools|bench|test)/' },
    },
    {
      name: 'activities-see-workflows-as-types',
      severity: 'error',
      comment: 'an activity may name a workflow message by its type, never run workflow code',
      from: { path: '^activities/' },
      to: { path: '^workflows/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-below-the-processes',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(client|serve|worker|cli|demo|tools|bench|test)/' },
    },
    {
      name: 'workflows-run-only-pure-lib',
      severity: 'error',
      comment: 'workflow code replays in a sandbox: lib/ and activities/ only as types, or the pure modules',
      from: { path: '^workflows/' },
      to: { path: '^(lib|activities)/', pathNot: PURE, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'pure-stays-pure',
      severity: 'error',
      comment: 'the pure lib/ modules run inside workflows: they import only each other, types and zod',
      from: { path: PURE },
      to: { pathNot: `${PURE}|^node_modules/zod/`, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'client-below-the-processes',
      severity: 'error',
      comment: 'client/ is shared by serve/, worker/, demo/ and cli/: it imports none of them',
      from: { path: '^client/' },
      to: { path: `^(serve|worker|cli|demo|bench|test)/|${TOOLS}` },
    },
    {
      name: 'processes-below-the-demos',
      severity: 'error',
      comment: 'serving and workers are processes of their own: the demos and the command line start them',
      from: { path: '^(serve|worker)/' },
      to: { path: `^(cli|demo|bench|test)/|${TOOLS}` },
    },
    {
      name: 'demos-below-the-cli',
      severity: 'error',
      from: { path: '^demo/' },
      to: { path: `^(cli|bench|test)/|${TOOLS}` },
    },
    {
      name: 'cli-below-the-tests',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: `^(bench|test)/|${TOOLS}` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|\\.tools|\\.lumen)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
