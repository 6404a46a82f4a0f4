// The engine's update ops (`state::update`, `stream::update`): an ordered list applied to one
// stored value in one step. Pure. The rules follow iii v0.22.1: an op that cannot apply is skipped
// and reported in `errors` (with its index) while the others still apply; a missing value starts
// as `{}`, except that a root increment, decrement or append starts from nothing.

export type MergePath = string | string[]

export type UpdateOp =
  | { type: 'set'; path: string; value: unknown }
  | { type: 'merge'; path?: MergePath; value: unknown }
  | { type: 'increment'; path: string; by: number }
  | { type: 'decrement'; path: string; by: number }
  | { type: 'append'; path?: MergePath; value: unknown }
  | { type: 'remove'; path: string }

export interface UpdateOpError {
  op_index: number
  code: string
  message: string
}

/** Limits the engine sets on paths and merged values (a merge into a prototype key is refused too). */
const MAX_PATH_DEPTH = 32
const MAX_SEGMENT_BYTES = 256
const MAX_VALUE_DEPTH = 16
const MAX_VALUE_KEYS = 1024
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

type Json = unknown
type Obj = Record<string, Json>

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const typeName = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v)
const label = (path: string) => (path === '' ? 'root' : path)
const bytes = (s: string) => new TextEncoder().encode(s).length

/**
 * Parses an `ops` array as the engine's serde would: a wrong shape refuses the whole call (a
 * string naming the problem), before anything is applied.
 */
export function parseOps(raw: unknown): UpdateOp[] | string {
  if (!Array.isArray(raw)) return 'invalid type: expected a sequence for field `ops`'
  const ops: UpdateOp[] = []
  for (const [i, op] of raw.entries()) {
    if (!isObj(op)) return `ops[${i}]: expected an object with a \`type\``
    const path = op.path
    const need = (field: string) => `ops[${i}]: missing field \`${field}\``
    const pathIsString = typeof path === 'string'
    const mergePathOk = path === undefined || path === null || pathIsString || (Array.isArray(path) && path.every((s) => typeof s === 'string'))
    switch (op.type) {
      case 'set':
        if (!pathIsString) return need('path')
        ops.push({ type: 'set', path, value: op.value ?? null })
        break
      case 'merge':
      case 'append':
        if (!mergePathOk) return `ops[${i}]: \`path\` must be a string or an array of strings`
        if (!('value' in op)) return need('value')
        ops.push({ type: op.type, ...(path != null ? { path: path as MergePath } : {}), value: op.value })
        break
      case 'increment':
      case 'decrement':
        if (!pathIsString) return need('path')
        if (typeof op.by !== 'number' || !Number.isSafeInteger(op.by)) return `ops[${i}]: \`by\` must be an integer`
        ops.push({ type: op.type, path, by: op.by })
        break
      case 'remove':
        if (!pathIsString) return need('path')
        ops.push({ type: 'remove', path })
        break
      default:
        return `ops[${i}]: unknown variant \`${String(op.type)}\`, expected one of \`set\`, \`merge\`, \`increment\`, \`decrement\`, \`append\`, \`remove\``
    }
  }
  return ops
}

const segmentsOf = (path: MergePath | undefined): string[] => (path === undefined || path === '' ? [] : typeof path === 'string' ? [path] : path)

function pathProblem(op: string, segments: string[]): { code: string; message: string } | null {
  if (segments.length > MAX_PATH_DEPTH) return { code: `${op}.path.too_deep`, message: `Path depth ${segments.length} exceeds maximum of ${MAX_PATH_DEPTH}` }
  for (const seg of segments) {
    if (seg === '') return { code: `${op}.path.empty_segment`, message: 'Path contains an empty segment' }
    if (bytes(seg) > MAX_SEGMENT_BYTES) return { code: `${op}.path.segment_too_long`, message: `Path segment of ${bytes(seg)} bytes exceeds maximum of ${MAX_SEGMENT_BYTES}` }
    if (PROTO_KEYS.has(seg)) return { code: `${op}.path.proto_polluted`, message: `Path segment '${seg}' is not allowed (prototype pollution).` }
  }
  return null
}

function depth(v: Json): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth))
  if (isObj(v)) return 1 + Math.max(0, ...Object.values(v).map(depth))
  return 0
}

function mergeValueProblem(value: Json): { code: string; message: string } | null {
  if (!isObj(value)) return { code: 'merge.value.not_an_object', message: 'Merge value must be a JSON object' }
  const keys = Object.keys(value)
  if (keys.length > MAX_VALUE_KEYS) return { code: 'merge.value.too_many_keys', message: `Merge value has ${keys.length} top-level keys, exceeds maximum of ${MAX_VALUE_KEYS}` }
  const proto = keys.find((k) => PROTO_KEYS.has(k))
  if (proto) return { code: 'merge.value.proto_polluted', message: `Merge value top-level key "${proto}" is a prototype-pollution sink` }
  const d = depth(value)
  if (d > MAX_VALUE_DEPTH) return { code: 'merge.value.too_deep', message: `Merge value JSON nesting depth ${d} exceeds maximum of ${MAX_VALUE_DEPTH}` }
  return null
}

/** Sets a key without ever touching a prototype (values come from the network). */
function put(obj: Obj, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}

/** Walks (making objects where there are none) to the object at `segments`. */
function walkOrCreate(root: { v: Json }, segments: string[]): Obj {
  if (!isObj(root.v)) root.v = {}
  let node = root.v as Obj
  for (const seg of segments) {
    const next = Object.hasOwn(node, seg) ? node[seg] : undefined
    if (!isObj(next)) put(node, seg, {})
    node = node[seg] as Obj
  }
  return node
}

const initialAppend = (value: Json): Json => (typeof value === 'string' ? value : [value])

/** Appends to an array, concatenates to a string, starts a null; anything else is a type mismatch. */
function appendTo(target: Json, value: Json, where: string): { ok: true; value: Json } | { ok: false; message: string } {
  if (Array.isArray(target)) return { ok: true, value: [...target, value] }
  if (typeof target === 'string') {
    if (typeof value === 'string') return { ok: true, value: target + value }
    return { ok: false, message: `Expected string append value at path '${label(where)}', got ${typeName(value)}.` }
  }
  if (target === null) return { ok: true, value: initialAppend(value) }
  return { ok: false, message: `Cannot append at path '${label(where)}': target is ${typeName(target)}, expected array, string, null, or missing field.` }
}

/** Applies `ops` to `old` (undefined: nothing stored). Returns the new value and the ops that did not apply. */
export function applyUpdateOps(old: Json | undefined, ops: readonly UpdateOp[]): { value: Json; errors: UpdateOpError[] } {
  // A copy: the caller's stored value must stay as it was if the result is refused (too large).
  const root: { v: Json } = { v: old === undefined ? {} : structuredClone(old) }
  let missing = old === undefined
  const errors: UpdateOpError[] = []
  const fail = (op_index: number, code: string, message: string) => errors.push({ op_index, code, message })

  ops.forEach((op, i) => {
    const segments = segmentsOf(op.path)
    const problem = pathProblem(op.type, segments)
    if (problem) return fail(i, problem.code, problem.message)
    switch (op.type) {
      case 'set':
        if (op.path === '') root.v = op.value
        else if (isObj(root.v)) put(root.v, op.path, op.value)
        else return fail(i, 'set.target_not_object', `Cannot set at path '${label(op.path)}': target is ${typeName(root.v)}, expected object.`)
        missing = false
        return
      case 'merge': {
        const bad = mergeValueProblem(op.value)
        if (bad) return fail(i, bad.code, bad.message)
        // A root merge into a value that is not an object is skipped without an error, as in the engine.
        if (segments.length === 0 && !isObj(root.v)) return
        const target = segments.length === 0 ? (root.v as Obj) : walkOrCreate(root, segments)
        for (const [k, v] of Object.entries(op.value as Obj)) put(target, k, v)
        missing = false
        return
      }
      case 'increment':
      case 'decrement': {
        const delta = op.type === 'increment' ? op.by : -op.by
        const notNumber = (got: Json) => fail(i, `${op.type}.not_number`, `Expected number at path '${label(op.path)}', got ${typeName(got)}.`)
        if (op.path === '') {
          if (missing) root.v = delta
          else if (typeof root.v === 'number') root.v += delta
          else return notNumber(root.v)
        } else if (isObj(root.v)) {
          const current = Object.hasOwn(root.v, op.path) ? root.v[op.path] : undefined
          if (current === undefined) put(root.v, op.path, delta)
          else if (typeof current === 'number') put(root.v, op.path, current + delta)
          else return notNumber(current)
        } else {
          return fail(i, `${op.type}.target_not_object`, `Cannot ${op.type} at path '${label(op.path)}': target is ${typeName(root.v)}, expected object.`)
        }
        missing = false
        return
      }
      case 'append': {
        if (segments.length === 0) {
          const done = appendTo(missing ? null : root.v, op.value, '')
          if (!done.ok) return fail(i, 'append.type_mismatch', done.message)
          root.v = done.value
          missing = false
          return
        }
        if (!isObj(root.v)) {
          return fail(i, 'append.target_not_object', `Cannot append at path '[${segments.join(', ')}]': target is ${typeName(root.v)}, expected object.`)
        }
        const leaf = segments[segments.length - 1]!
        const parent = segments.length === 1 ? root.v : walkOrCreate(root, segments.slice(0, -1))
        missing = false
        if (!Object.hasOwn(parent, leaf)) {
          // The engine starts a nested missing field as an array even for a string; a first-level one by kind.
          put(parent, leaf, segments.length === 1 ? initialAppend(op.value) : [op.value])
          return
        }
        const done = appendTo(parent[leaf], op.value, leaf)
        if (!done.ok) return fail(i, 'append.type_mismatch', done.message)
        put(parent, leaf, done.value)
        return
      }
      case 'remove':
        if (op.path === '') root.v = null
        else if (isObj(root.v)) delete root.v[op.path]
        else return fail(i, 'remove.target_not_object', `Cannot remove at path '${label(op.path)}': target is ${typeName(root.v)}, expected object.`)
        missing = false
        return
    }
  })
  return { value: root.v, errors }
}
