// The import rule of src/ (docs/architecture.md, "Layers"), checked by `npm run check:imports` in CI:
// no import circle, and no import from a layer to one above it. Layers, lowest first; a file may
// import its own layer and those below. Type-only imports count: they couple as much as values.
const LAYERS = [
  ['leaves', '^src/(paths|tags|timeout)\\.ts$'],
  ['protocol', '^src/protocol/'],
  ['observability', '^src/observability/'],
  ['status', '^src/status/'],
  ['channel', '^src/channel/'],
  ['data', '^src/data/'],
  ['engine', '^src/engine/'],
  ['http', '^src/http/'],
  ['front door', '^src/index\\.ts$'],
]

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `no-upward-from-${name.replace(' ', '-')}`,
  comment: `${name} may import only ${LAYERS.slice(0, i + 1).map(([n]) => n).join(', ')} (docs/architecture.md, "Layers")`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => p) },
}))

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import circle: move what both sides need into the lower module (docs/architecture.md, "Layers")',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'client-stands-apart',
      comment: 'the browser client (src/client/) is bundled on its own: it may import only the wire and the pure channel frame',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: ['^src/client/', '^src/protocol/', '^src/channel/frame\\.ts$'] },
    },
    {
      name: 'nothing-imports-client',
      comment: 'the Worker does not run the browser client',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/client/' },
      to: { path: '^src/client/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // cloudflare:workers and other platform modules are not files.
    exclude: { path: '^cloudflare:' },
  },
}
