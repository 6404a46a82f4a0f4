// JSON Schema checks of configuration values, as the engine's configuration worker makes them
// (Rust `jsonschema` 0.30): the draft from `$schema` (2020-12 when absent), the schema itself
// checked first ("invalid JSON Schema: …"), `format` not asserted from 2019-09 on. The validator
// is @cfworker/json-schema, an interpreter: Workers forbid `new Function`, which ajv compiles with.
// Its wording differs from the Rust crate's (docs/engine-compat.md, "Configuration").

import { type OutputUnit, type Schema, type SchemaDraft, Validator, schemaArrayKeyword, schemaKeyword, schemaMapKeyword } from '@cfworker/json-schema'

/** The drafts the engine's validator knows, by `$schema` (without a trailing `#`); draft 6 is read as 7. */
const DRAFTS: Record<string, SchemaDraft> = {
  'https://json-schema.org/draft/2020-12/schema': '2020-12',
  'https://json-schema.org/draft/2019-09/schema': '2019-09',
  'http://json-schema.org/draft-07/schema': '7',
  'http://json-schema.org/draft-06/schema': '7',
  'http://json-schema.org/draft-04/schema': '4',
}

const ref: Schema = { $ref: '#' }
const schemas: Schema = { type: 'array', minItems: 1, items: ref }
const schemaMap: Schema = { type: 'object', additionalProperties: ref }
const count: Schema = { type: 'integer', minimum: 0 }
const names: Schema = { type: 'array', items: { type: 'string' }, uniqueItems: true }
const typeName: Schema = { enum: ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'] }
const text: Schema = { type: 'string' }
const flag: Schema = { type: 'boolean' }

/**
 * What a schema must look like: the keywords' shapes of the 2020-12 meta-schema, written out
 * because the validator does not follow its `$dynamicRef`s. Lenient where older drafts differ
 * (`items` as a list, boolean `exclusiveMaximum`), since `$schema` may name one.
 */
const META_SCHEMA: Schema = {
  type: ['object', 'boolean'],
  properties: {
    ...Object.fromEntries(['$id', '$schema', '$ref', '$anchor', '$dynamicRef', '$dynamicAnchor', '$comment', 'format', 'title', 'description'].map((k) => [k, text])),
    ...Object.fromEntries(['$defs', 'definitions', 'properties', 'dependentSchemas'].map((k) => [k, schemaMap])),
    ...Object.fromEntries(
      ['additionalProperties', 'unevaluatedProperties', 'propertyNames', 'contains', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'additionalItems'].map((k) => [k, ref]),
    ),
    ...Object.fromEntries(['prefixItems', 'allOf', 'anyOf', 'oneOf'].map((k) => [k, schemas])),
    ...Object.fromEntries(['maxLength', 'minLength', 'maxItems', 'minItems', 'maxProperties', 'minProperties', 'maxContains', 'minContains'].map((k) => [k, count])),
    ...Object.fromEntries(['uniqueItems', 'deprecated', 'readOnly', 'writeOnly'].map((k) => [k, flag])),
    patternProperties: { ...schemaMap, propertyNames: { format: 'regex' } },
    items: { anyOf: [ref, schemas] },
    type: { anyOf: [typeName, { type: 'array', items: typeName, minItems: 1, uniqueItems: true }] },
    enum: { type: 'array' },
    required: names,
    dependentRequired: { type: 'object', additionalProperties: names },
    multipleOf: { type: 'number', exclusiveMinimum: 0 },
    maximum: { type: 'number' },
    minimum: { type: 'number' },
    exclusiveMaximum: { type: ['number', 'boolean'] },
    exclusiveMinimum: { type: ['number', 'boolean'] },
    pattern: { type: 'string', format: 'regex' },
    examples: { type: 'array' },
  },
}

let meta: Validator | undefined

/**
 * Why `value` does not satisfy `schema` (empty: it does). A schema that is not one, names a draft
 * the engine does not know, or cannot be applied (a `$ref` to nowhere) gives one error,
 * `invalid JSON Schema: …`, as the engine's does.
 */
export function schemaErrors(value: unknown, schema: unknown): string[] {
  const invalid = (why: string) => [`invalid JSON Schema: ${why}`]
  meta ??= new Validator(META_SCHEMA, '2020-12', false)
  const checked = meta.validate(schema)
  if (!checked.valid) return invalid(messages(checked.errors).join('; '))
  const $schema = typeof schema === 'object' && schema !== null ? (schema as Schema).$schema : undefined
  const draft = $schema === undefined ? '2020-12' : DRAFTS[$schema.replace(/#$/, '')]
  if (!draft) return invalid(`unknown $schema ${JSON.stringify($schema)}: use draft 4, 6, 7, 2019-09 or 2020-12`)
  // A copy: the validator annotates the schema it is given, and the stored one stays as it came.
  const copy = JSON.parse(JSON.stringify(schema)) as Schema | boolean
  try {
    const result = new Validator(draft === '2019-09' || draft === '2020-12' ? withoutFormat(copy) : copy, draft, false).validate(value)
    return result.valid ? [] : messages(result.errors)
  } catch (err) {
    // The validator's own first sentence ("Unresolved $ref "#/x"."), not its list of known schemas.
    return invalid((err instanceof Error ? err.message : String(err)).replace(/\s+Absolute URI[^]*$|\n[^]*$/, ''))
  }
}

/**
 * The validator reports each failing keyword and every one that contains it ("Property "port"
 * does not match schema." above the type error); only the innermost say what is wrong. Each
 * names where in the value, unless at its root.
 */
function messages(errors: readonly OutputUnit[]): string[] {
  const inner = errors.filter((e) => !errors.some((o) => o !== e && o.keywordLocation.startsWith(`${e.keywordLocation}/`)))
  return [...new Set(inner.map((e) => (e.instanceLocation === '#' ? e.error : `${e.error} (at ${e.instanceLocation})`)))]
}

/** From 2019-09 on, `format` is an annotation (the engine's validator does not assert it); this validator would. */
function withoutFormat(schema: Schema | boolean): Schema | boolean {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema
  delete schema.format
  for (const [key, sub] of Object.entries(schema)) {
    if (Array.isArray(sub)) {
      if (schemaArrayKeyword[key]) sub.forEach(withoutFormat)
    } else if (schemaMapKeyword[key] && typeof sub === 'object' && sub !== null) {
      Object.values(sub).forEach((s) => withoutFormat(s as Schema))
    } else if (schemaKeyword[key]) {
      withoutFormat(sub as Schema)
    }
  }
  return schema
}
