// The configuration worker's rules in Node: the engine's own test cases (iii v0.22.1
// configuration.rs, store.rs, trigger.rs, structs.rs) ported to ConfigurationCore over the memory
// store, `${VAR}` expansion and coercion, JSON Schema checks, and which vars a namespace may expand.
import { describe, expect, it } from 'vitest'
import { ConfigurationCore, MemoryConfigurationStore, type RegisterInput, configurationEvent, parseGet, parseRegister, parseSet } from '../../src/data/configuration'
import { ENGINE_VERSION, type EnvRead, configurationEnv, expandValue, yamlScalar } from '../../src/data/configuration-env'
import { schemaErrors } from '../../src/data/configuration-schema'
import { type DataTrigger, configurationTriggersFor, dataTriggerProblem } from '../../src/data/triggers'
import { EngineError } from '../../src/protocol/outcome'
import pkg from '../../package.json'

const PORT_SCHEMA = { type: 'object', required: ['port'], properties: { port: { type: 'integer' } } }

/** A core over the memory store, and the env its values expand against (the default namespace's view). */
function setup(vars: Record<string, string> = {}) {
  const store = new MemoryConfigurationStore()
  const env: EnvRead = configurationEnv('', (name) => vars[name])
  const core = new ConfigurationCore(store)
  const register = (id: string, initial_value?: unknown, schema: unknown = PORT_SCHEMA, more: Partial<RegisterInput> = {}) =>
    core.register({ id, name: `${id} display`, description: 'test', schema, ...(initial_value !== undefined ? { initial_value } : {}), ...more }, env)
  return { store, env, core, register }
}

/** The engine code a call fails with (it must fail). */
function codeOf(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    if (err instanceof EngineError) return err.code
    throw err
  }
  throw new Error('expected an EngineError')
}

function errorOf(run: () => unknown): EngineError {
  try {
    run()
  } catch (err) {
    if (err instanceof EngineError) return err
    throw err
  }
  throw new Error('expected an EngineError')
}

describe('configuration::register, set, get, list, schema (the engine worker tests)', () => {
  it('register creates the entry and returns it, raw; without initial_value the value is null', () => {
    const { register } = setup()
    expect(register('iii-stream', { port: 3112 }).entry).toEqual({ id: 'iii-stream', name: 'iii-stream display', description: 'test', schema: PORT_SCHEMA, value: { port: 3112 } })
    expect(register('seeded-null').entry.value).toBeNull()
  })

  it('register refuses an initial value that violates the schema, storing nothing', () => {
    const { register, core, env } = setup()
    expect(codeOf(() => register('iii-stream', { port: 'not-an-integer' }))).toBe('SCHEMA_INVALID')
    expect(codeOf(() => core.get('iii-stream', false, env))).toBe('NOT_FOUND')
  })

  it('set validates against the registered schema and answers old and new raw values', () => {
    const { register, core, env } = setup()
    register('iii-stream', { port: 3112 })
    expect(codeOf(() => core.set('iii-stream', { port: 'wrong' }, env))).toBe('SCHEMA_INVALID')
    const { old_value, new_value } = core.set('iii-stream', { port: 4242 }, env)
    expect({ old_value, new_value }).toEqual({ old_value: { port: 3112 }, new_value: { port: 4242 } })
  })

  it('set on an unregistered id is NOT_REGISTERED; on an entry without schema SCHEMA_UNAVAILABLE', () => {
    const { register, core, env } = setup()
    expect(errorOf(() => core.set('missing', { port: 1 }, env))).toMatchObject({
      code: 'NOT_REGISTERED',
      message: "configuration 'missing' is not registered; call configuration::register first",
    })
    register('no-schema', undefined, null)
    expect(errorOf(() => core.set('no-schema', { port: 1 }, env))).toMatchObject({
      code: 'SCHEMA_UNAVAILABLE',
      message: "configuration 'no-schema' has no schema available yet; the owning worker must register before values can be set",
    })
  })

  it('get expands env placeholders by default; raw gives the template', () => {
    const { register, core, env } = setup({ CFG_GET_HOST: 'db.local' })
    register('iii-db', { host: '${CFG_GET_HOST:fallback}' }, { type: 'object' })
    expect(core.get('iii-db', false, env)).toEqual({ id: 'iii-db', value: { host: 'db.local' } })
    expect(core.get('iii-db', true, env)).toEqual({ id: 'iii-db', value: { host: '${CFG_GET_HOST:fallback}' } })
  })

  it('a templated integer port registers against an integer schema and reads back as the integer', () => {
    const { register, core, env } = setup()
    register('iii-http', { port: '${CFG_GET_TPORT:3111}' })
    expect(core.get('iii-http', false, env).value).toEqual({ port: 3111 })
    expect(core.get('iii-http', true, env).value).toEqual({ port: '${CFG_GET_TPORT:3111}' })
  })

  it('get fails SCHEMA_INVALID when the expanded value violates the schema, EXPAND_FAILED when a var has no value and no default', () => {
    const { store, core, env } = setup()
    store.put({ id: 'bad-port', name: 'b', description: 'd', schema: PORT_SCHEMA, value: { port: '${CFG_GET_BADPORT:notaport}' } })
    expect(errorOf(() => core.get('bad-port', false, env))).toMatchObject({ code: 'SCHEMA_INVALID', message: expect.stringMatching(/^schema validation failed: /) })
    store.put({ id: 'required', name: 'r', description: 'd', schema: PORT_SCHEMA, value: { port: '${CFG_GET_REQUIRED}', again: '${CFG_GET_REQUIRED}' } })
    expect(errorOf(() => core.get('required', false, env))).toMatchObject({
      code: 'EXPAND_FAILED',
      // Each occurrence is listed, as the engine lists them.
      message: "configuration 'required' references unset environment variable(s) with no default: CFG_GET_REQUIRED, CFG_GET_REQUIRED",
    })
    // A value that cannot be expanded yet is stored unchecked (register and set), and read raw.
    expect(core.set('required', { port: '${CFG_STILL_UNSET}' }, env).new_value).toEqual({ port: '${CFG_STILL_UNSET}' })
  })

  it('get and schema of an unknown (or malformed) id are NOT_FOUND', () => {
    const { core, env } = setup()
    expect(errorOf(() => core.get('nope', false, env))).toMatchObject({ code: 'NOT_FOUND', message: "configuration 'nope' not found" })
    expect(codeOf(() => core.get('UPPER', false, env))).toBe('NOT_FOUND')
    expect(codeOf(() => core.schema('nope'))).toBe('NOT_FOUND')
  })

  it('list is sorted by id and never shows a value; schema shows one entry the same way', () => {
    const { register, core } = setup()
    register('zebra', { port: 1 })
    register('alpha', { port: 2 }, PORT_SCHEMA, { metadata: { owner: 'team' } })
    const { configurations } = core.list()
    expect(configurations.map((c) => c.id)).toEqual(['alpha', 'zebra'])
    for (const c of configurations) expect(c).not.toHaveProperty('value')
    expect(core.schema('alpha')).toEqual({ id: 'alpha', name: 'alpha display', description: 'test', schema: PORT_SCHEMA, metadata: { owner: 'team' } })
    expect(core.schema('zebra')).not.toHaveProperty('metadata')
  })

  it('re-register replaces name, description, schema and metadata, and keeps the value when initial_value is omitted', () => {
    const { register, core, env } = setup()
    register('iii-stream', { port: 3112 }, PORT_SCHEMA, { metadata: { v: 1 } })
    const { entry } = register('iii-stream', undefined, PORT_SCHEMA, { description: 'updated' })
    expect(entry).toEqual({ id: 'iii-stream', name: 'iii-stream display', description: 'updated', schema: PORT_SCHEMA, value: { port: 3112 } })
    expect(core.get('iii-stream', true, env).value).toEqual({ port: 3112 })
  })

  it('re-register refreshes a tightened schema over a now-invalid value; set enforces it next', () => {
    const { register, core, env } = setup()
    register('iii-state', { adapter: { name: 'kv', config: null } }, { type: 'object' })
    const strict = { type: 'object', properties: { adapter: { type: 'object', properties: { config: { type: 'object' } } } } }
    register('iii-state', undefined, strict)
    expect(core.schema('iii-state').schema).toEqual(strict)
    expect(codeOf(() => core.set('iii-state', { adapter: { name: 'kv', config: null } }, env))).toBe('SCHEMA_INVALID')
  })

  it('set without a schema is refused, then works once the owner registers one', () => {
    const { register, core, env } = setup()
    register('late', undefined, null)
    expect(codeOf(() => core.set('late', { a: 1 }, env))).toBe('SCHEMA_UNAVAILABLE')
    register('late', undefined, { type: 'object' })
    expect(core.set('late', { a: 1 }, env)).toMatchObject({ old_value: null, new_value: { a: 1 } })
  })

  it('a null or invalid schema is accepted without a value, and SCHEMA_INVALID ("invalid JSON Schema") with one', () => {
    const { register } = setup()
    expect(register('null-schema', undefined, null).entry.schema).toBeNull()
    expect(register('bad-schema', undefined, { type: 5 }).entry.schema).toEqual({ type: 5 })
    expect(errorOf(() => register('null-schema', { a: 1 }, null))).toMatchObject({
      code: 'SCHEMA_INVALID',
      message: 'schema validation failed: invalid JSON Schema: Instance type "null" is invalid. Expected "object", "boolean".',
    })
    expect(errorOf(() => register('bad-schema', 1, { type: 5 })).message).toMatch(/^schema validation failed: invalid JSON Schema: /)
  })

  it('the id rule: 1–64 bytes of [a-z0-9_-], checked by register and set', () => {
    const { register, core, env } = setup()
    for (const id of ['UPPER', 'a'.repeat(65), '', 'a.b', 'a/b', 'a b', 'é']) {
      expect(codeOf(() => register(id, { port: 1 })), id).toBe('INVALID_ID')
      expect(codeOf(() => core.set(id, { port: 1 }, env)), id).toBe('INVALID_ID')
    }
    expect(errorOf(() => register('UPPER')).message).toBe("invalid configuration id 'UPPER': must match [a-z0-9_-]{1,64}")
    for (const id of ['iii-stream', 'a_b-c-1', 'a'.repeat(64)]) expect(register(id, { port: 1 }).entry.id).toBe(id)
  })

  it('refuses an entry past the row limit, storing nothing', () => {
    const { register, core, env } = setup()
    expect(codeOf(() => register('huge', { port: 1, pad: 'x'.repeat(2_000_000) }, { type: 'object' }))).toBe('VALUE_TOO_LARGE')
    expect(codeOf(() => core.get('huge', true, env))).toBe('NOT_FOUND')
  })
})

describe('the event a configuration trigger receives', () => {
  it('register fires registered (old null) then updated (old value), set fires updated; values expanded, raw answers', () => {
    const { register, core, env } = setup({ CFG_HOST: 'trigger.local' })
    const first = register('iii-stream', { host: '${CFG_HOST}' }, { type: 'object' })
    expect(first.entry.value).toEqual({ host: '${CFG_HOST}' })
    expect(first.event).toEqual({
      type: 'configuration',
      event_type: 'configuration:registered',
      id: 'iii-stream',
      name: 'iii-stream display',
      description: 'test',
      schema: { type: 'object' },
      old_value: null,
      new_value: { host: 'trigger.local' },
    })
    // Fires even when nothing changed, as the engine's does.
    expect(register('iii-stream', undefined, { type: 'object' }, { metadata: { m: 1 } }).event).toMatchObject({
      event_type: 'configuration:updated',
      old_value: { host: 'trigger.local' },
      new_value: { host: 'trigger.local' },
      metadata: { m: 1 },
    })
    expect(core.set('iii-stream', { host: 'set.local' }, env).event).toMatchObject({ event_type: 'configuration:updated', new_value: { host: 'set.local' } })
  })

  it('leaves an unresolved placeholder literal (no error) and metadata out when absent', () => {
    const env = configurationEnv('', () => undefined)
    const event = configurationEvent({ id: 'x', name: 'n', description: 'd', schema: null, value: 1 }, 'configuration:deleted', { a: '${NOPE}' }, null, env)
    expect(event).toEqual({ type: 'configuration', event_type: 'configuration:deleted', id: 'x', name: 'n', description: 'd', schema: null, old_value: { a: '${NOPE}' }, new_value: null })
  })
})

describe('${VAR:default} expansion and coercion (the engine store tests)', () => {
  const vars: Record<string, string> = { CFG_TEST_HOST: 'db.local', CFG_TEST_NAME: 'alice', CFG_COERCE_ENVPORT: '8080', EMPTY: '' }
  const env = configurationEnv('', (name) => vars[name])
  const expand = (value: unknown) => expandValue(value, env)

  it('replaces from the env, else the default, through arrays and objects; other scalars pass', () => {
    expect(expand({ host: '${CFG_TEST_HOST:fallback}', port: 5432 })).toEqual({ value: { host: 'db.local', port: 5432 }, missing: [] })
    expect(expand({ url: '${CFG_TEST_MISSING:http://default}' }).value).toEqual({ url: 'http://default' })
    expect(expand({ users: [{ name: '${CFG_TEST_NAME:?}' }, { name: 'static' }] }).value).toEqual({ users: [{ name: 'alice' }, { name: 'static' }] })
    expect(expand({ n: 42, b: true, nil: null }).value).toEqual({ n: 42, b: true, nil: null })
    // A set var wins even when empty.
    expect(expand({ e: 'x${EMPTY:default}y' }).value).toEqual({ e: 'xy' })
  })

  it('coerces a lone placeholder as a YAML 1.2 scalar; embedded ones stay text', () => {
    expect(expand({ port: '${CFG_COERCE_PORT:3111}' }).value).toEqual({ port: 3111 })
    expect(expand({ port: '${CFG_COERCE_ENVPORT:3111}' }).value).toEqual({ port: 8080 })
    expect(expand({ flag: '${F:true}', ratio: '${R:3.5}', padded: '  ${P:42}  ' }).value).toEqual({ flag: true, ratio: 3.5, padded: 42 })
    expect(expand({ host: '${H:localhost}', mode: '${M:on}' }).value).toEqual({ host: 'localhost', mode: 'on' })
    expect(expand({ url: 'redis://${X:6379}' }).value).toEqual({ url: 'redis://6379' })
    expect(expand({ name: '${CFG_COERCE_EMPTY:}' }).value).toEqual({ name: '' })
    expect(expand({ two: '${A:1}${B:2}' }).value).toEqual({ two: '12' })
  })

  it('lists a var with no value and no default and leaves it literal', () => {
    expect(expand({ port: '${CFG_COERCE_REQUIRED}' })).toEqual({ value: { port: '${CFG_COERCE_REQUIRED}' }, missing: ['CFG_COERCE_REQUIRED'] })
    // Not placeholders in the engine's grammar: left as they are, nothing missing.
    expect(expand({ a: '${}', b: '${:x}', c: '$X', d: '${X' })).toEqual({ value: { a: '${}', b: '${:x}', c: '$X', d: '${X' }, missing: [] })
  })

  it("reads exactly the engine's YAML scalars", () => {
    const cases: [string, unknown][] = [
      ['3111', 3111], ['-5', -5], ['+5', 5], ['0', 0], ['-0', 0],
      ['007', '007'], ['-007', '-007'], ['00', '00'],
      ['0x1F', 31], ['-0x1F', -31], ['0o17', 15], ['0b101', 5], ['0X1F', '0X1F'], ['0x', '0x'],
      ['3.5', 3.5], ['1.', 1], ['.5', 0.5], ['-.5', -0.5], ['1e3', 1000], ['1E-2', 0.01], ['00.5', 0.5], ['1e999', '1e999'],
      ['.inf', null], ['-.inf', null], ['.NaN', null], ['inf', 'inf'], ['nan', 'nan'], ['Infinity', 'Infinity'],
      ['true', true], ['True', true], ['TRUE', true], ['false', false], ['FALSE', false], ['tRUE', 'tRUE'],
      ['null', null], ['Null', null], ['NULL', null], ['~', null], ['nULL', 'nULL'],
      ['on', 'on'], ['off', 'off'], ['yes', 'yes'], ['no', 'no'], ['y', 'y'], ['localhost', 'localhost'],
      ['18446744073709551615', 18446744073709551615], ['18446744073709551616', '18446744073709551616'], ['-9223372036854775809', '-9223372036854775809'],
      ['1_000', '1_000'], ['1 2', '1 2'],
    ]
    for (const [text, value] of cases) expect(yamlScalar(text), text).toEqual(value)
  })

  it('replaces the __III_ENGINE_VERSION__ default with this project\'s version', () => {
    expect(ENGINE_VERSION).toBe(pkg.version)
    expect(expand({ v: 'v${VERSION_UNSET:__III_ENGINE_VERSION__}' }).value).toEqual({ v: `v${pkg.version}` })
  })
})

describe('which vars a namespace may expand (the HTTP functions\' secret rule)', () => {
  const vars: Record<string, unknown> = {
    III_ENGINE_TOKEN: 'engine-token',
    III_SIGNING_SECRET: 'signing',
    BILLING_TOKEN: 'billing',
    TEAM_A_TOKEN: 'team-a',
    PLAIN: 'plain',
    A_BINDING: { get: () => {} },
    A_NUMBER: 5,
    III_NAMESPACE_SECRETS: JSON.stringify({ 'team-a': ['TEAM_A_TOKEN', 'III_ENGINE_TOKEN'] }),
  }

  it('never expands an III_ name, in any namespace, even granted: its default applies, or it is missing', () => {
    for (const namespace of ['', 'team-a']) {
      const env = configurationEnv(namespace, (name) => vars[name])
      expect(expandValue({ t: '${III_ENGINE_TOKEN:none}', s: '${III_SIGNING_SECRET}', l: '${iii_signing_secret:x}' }, env)).toEqual({
        value: { t: 'none', s: '${III_SIGNING_SECRET}', l: 'x' },
        missing: ['III_SIGNING_SECRET'],
      })
    }
  })

  it('lets the default namespace expand any other text var; bindings and non-text vars are unset', () => {
    const env = configurationEnv('', (name) => vars[name])
    expect(expandValue(['${BILLING_TOKEN}', '${PLAIN}', '${A_BINDING:unset}', '${A_NUMBER:unset}', '${constructor:unset}', '${__proto__:unset}'], env).value).toEqual([
      'billing', 'plain', 'unset', 'unset', 'unset', 'unset',
    ])
  })

  it('lets another namespace expand only what III_NAMESPACE_SECRETS grants it, deciding before reading the env', () => {
    const read: string[] = []
    const env = configurationEnv('team-a', (name) => (read.push(name), vars[name]))
    expect(expandValue(['${TEAM_A_TOKEN}', '${BILLING_TOKEN:refused}', '${PLAIN:refused}'], env).value).toEqual(['team-a', 'refused', 'refused'])
    expect(read.filter((n) => n !== 'III_NAMESPACE_SECRETS')).toEqual(['TEAM_A_TOKEN'])
    const other = configurationEnv('team-b', (name) => vars[name])
    expect(expandValue('${TEAM_A_TOKEN:refused}', other).value).toBe('refused')
  })

  it('grants nothing to another namespace when the var is malformed, and says so once', () => {
    const logs: string[] = []
    const env = configurationEnv('team-a', (name) => (name === 'III_NAMESPACE_SECRETS' ? '{"team-a": "TEAM_A_TOKEN"}' : vars[name]), (m) => logs.push(m))
    expect(expandValue(['${TEAM_A_TOKEN:refused}', '${TEAM_A_TOKEN:refused}'], env).value).toEqual(['refused', 'refused'])
    expect(logs).toEqual([expect.stringContaining('III_NAMESPACE_SECRETS is not valid JSON')])
  })
})

describe('JSON Schema checks', () => {
  it('passes a valid value and explains an invalid one, where in the value', () => {
    expect(schemaErrors({ port: 3112 }, PORT_SCHEMA)).toEqual([])
    expect(schemaErrors({ port: 'nope' }, PORT_SCHEMA)).toEqual(['Instance type "string" is invalid. Expected "integer". (at #/port)'])
    expect(schemaErrors({}, PORT_SCHEMA)).toEqual(['Instance does not have required property "port".'])
  })

  it('defaults to draft 2020-12, reads $schema, and refuses a draft it does not know', () => {
    // prefixItems is 2020-12; draft 7 reads an `items` list instead.
    expect(schemaErrors([1, 'x'], { prefixItems: [{ type: 'integer' }, { type: 'integer' }] })).not.toEqual([])
    expect(schemaErrors([1, 'x'], { $schema: 'http://json-schema.org/draft-07/schema#', items: [{ type: 'integer' }, { type: 'integer' }] })).not.toEqual([])
    expect(schemaErrors(1, { $schema: 'https://example.com/my-draft' })).toEqual([expect.stringMatching(/^invalid JSON Schema: unknown \$schema/)])
  })

  it('does not assert format from 2019-09 on (as the engine), and does for draft 7', () => {
    expect(schemaErrors('not a uri', { type: 'string', format: 'uri' })).toEqual([])
    expect(schemaErrors({ u: 'not a uri' }, { properties: { u: { format: 'uri' } } })).toEqual([])
    // A property named `format` is data, not the keyword.
    expect(schemaErrors({ format: 1 }, { properties: { format: { type: 'string' } } })).not.toEqual([])
    expect(schemaErrors('not a uri', { $schema: 'http://json-schema.org/draft-07/schema#', format: 'uri' })).not.toEqual([])
  })

  it('calls a schema that is not one "invalid JSON Schema", and does not change the schema it checks', () => {
    const bad: unknown[] = [null, 5, 'x', [], { type: 5 }, { type: 'nonsense' }, { required: 'port' }, { minimum: 'x' }, { pattern: '(' }, { properties: { a: 5 } }, { $ref: '#/$defs/missing' }]
    for (const schema of bad) expect(schemaErrors(1, schema), JSON.stringify(schema)).toEqual([expect.stringMatching(/^invalid JSON Schema: /)])
    expect(schemaErrors(1, { $ref: '#/$defs/missing' })).toEqual(['invalid JSON Schema: Unresolved $ref "#/$defs/missing".'])
    const schema = { $defs: { p: { type: 'integer' } }, properties: { port: { $ref: '#/$defs/p', format: 'x' } } }
    const before = JSON.stringify(schema)
    expect(schemaErrors({ port: 1 }, schema)).toEqual([])
    expect(JSON.stringify(schema)).toBe(before)
    expect(schemaErrors(1, true)).toEqual([])
    expect(schemaErrors(1, false)).toEqual(['False boolean schema.'])
  })
})

describe('inputs, parsed as the engine reads them', () => {
  it('answers deserialization_error naming the field; extra fields are ignored', () => {
    const bad: [() => unknown, string][] = [
      [() => parseRegister({ name: 'n', description: 'd', schema: {} }), 'Failed to deserialize input for configuration::register: missing field `id`'],
      [() => parseRegister({ id: 'a', name: 'n', description: 'd' }), 'Failed to deserialize input for configuration::register: missing field `schema`'],
      [() => parseRegister({ id: 7, name: 'n', description: 'd', schema: {} }), 'Failed to deserialize input for configuration::register: invalid type for field `id`: expected a string'],
      [() => parseSet({ id: 'a' }), 'Failed to deserialize input for configuration::set: missing field `value`'],
      [() => parseGet({ id: 'a', raw: null }), 'Failed to deserialize input for configuration::get: invalid type for field `raw`: expected a boolean'],
      [() => parseGet('nope'), 'Failed to deserialize input for configuration::get: missing field `id`'],
    ]
    for (const [run, message] of bad) expect(errorOf(run)).toMatchObject({ code: 'deserialization_error', message })
    expect(parseRegister({ id: 'a', name: 'n', description: 'd', schema: null, initial_value: null, metadata: null, extra: 1 })).toEqual({ id: 'a', name: 'n', description: 'd', schema: null })
    expect(parseSet({ id: 'a', value: null })).toEqual({ id: 'a', value: null })
    expect(parseGet({ id: 'a' })).toEqual({ id: 'a', raw: false })
  })
})

describe('the configuration trigger type', () => {
  const t = (id: string, config: unknown): DataTrigger => ({ id, trigger_type: 'configuration', function_id: `f::${id}`, config })

  it('takes every field as optional and refuses wrong types with the engine\'s message', () => {
    expect(dataTriggerProblem('configuration', {})).toBeNull()
    expect(dataTriggerProblem('configuration', { configuration_id: 'iii-stream', event_types: ['configuration:updated'], condition_function_id: 'c' })).toBeNull()
    expect(dataTriggerProblem('configuration', { configuration_id: null, event_types: null })).toBeNull()
    for (const config of [{ configuration_id: 5 }, { event_types: 'configuration:updated' }, { event_types: [1] }, { condition_function_id: {} }, 'x', [1]]) {
      expect(dataTriggerProblem('configuration', config), JSON.stringify(config)).toMatch(/^Failed to parse configuration trigger config: /)
    }
  })

  it('reaches triggers on the event\'s id or on none, filtered by event_types; an empty id or list matches nothing', () => {
    const all = [
      t('global', {}),
      t('on-id', { configuration_id: 'iii-stream' }),
      t('other-id', { configuration_id: 'other' }),
      t('updates', { event_types: ['configuration:updated'] }),
      t('none', { event_types: [] }),
      t('empty-id', { configuration_id: '' }),
      { id: 'state', trigger_type: 'state', function_id: 'f', config: {} },
    ]
    expect(configurationTriggersFor(all, 'iii-stream', 'configuration:registered').map((x) => x.id)).toEqual(['global', 'on-id'])
    expect(configurationTriggersFor(all, 'iii-stream', 'configuration:updated').map((x) => x.id)).toEqual(['global', 'on-id', 'updates'])
    expect(configurationTriggersFor(all, 'other', 'configuration:registered').map((x) => x.id)).toEqual(['global', 'other-id'])
  })
})
