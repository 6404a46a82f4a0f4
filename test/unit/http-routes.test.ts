// HTTP trigger route matching: params, precedence, methods, reserved paths.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileRoute, httpTriggerProblem, matchRoute } from '../../src/engine/routes'

const route = (id: string, api_path: string, http_method?: string) =>
  compileRoute({ id, function_id: `fn::${id}`, config: http_method ? { api_path, http_method } : { api_path } })

describe('matchRoute', () => {
  const table = [route('download', 'files/:filename', 'GET'), route('latest', 'files/latest', 'GET'), route('upload', '/files/:filename/', 'PUT'), route('plain', 'events/stream')]

  it('fills path params, decoded', () => {
    expect(matchRoute(table, 'GET', '/files/quarterly%20report.pdf')).toMatchObject({
      function_id: 'fn::download',
      api_path: '/files/:filename',
      path_params: { filename: 'quarterly report.pdf' },
    })
  })

  it('prefers literal segments over params', () => {
    expect(matchRoute(table, 'GET', '/files/latest')?.function_id).toBe('fn::latest')
  })

  it('matches the method (case-insensitive), GET by default, HEAD falling back to GET', () => {
    expect(matchRoute(table, 'put', '/files/a')?.function_id).toBe('fn::upload')
    expect(matchRoute(table, 'GET', '/events/stream')?.function_id).toBe('fn::plain')
    expect(matchRoute(table, 'POST', '/events/stream')).toBeNull()
    expect(matchRoute(table, 'HEAD', '/files/a')?.function_id).toBe('fn::download')
  })

  it('needs the same number of segments and rejects undecodable ones', () => {
    expect(matchRoute(table, 'GET', '/files')).toBeNull()
    expect(matchRoute(table, 'GET', '/files/a/b')).toBeNull()
    expect(matchRoute(table, 'GET', '/files/%E0%A4%A')).toBeNull()
  })

  it('never matches a path that is not one of the routes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 4 }), (segments) => {
        const match = matchRoute(table, 'GET', `/${segments.join('/')}`)
        if (match) expect(['files', 'events']).toContain(segments[0])
      }),
      { numRuns: 500 },
    )
  })
})

describe('httpTriggerProblem', () => {
  it('accepts a normal config and refuses missing paths, odd methods and the engine\'s own paths', () => {
    expect(httpTriggerProblem({ api_path: 'files/:filename', http_method: 'GET' })).toBeNull()
    expect(httpTriggerProblem({})).toMatch(/api_path/)
    expect(httpTriggerProblem({ api_path: 'x', http_method: 'GET /' })).toMatch(/http_method/)
    for (const reserved of ['channels', '/ws/channels/abc', 'otel', '/']) expect(httpTriggerProblem({ api_path: reserved })).toMatch(/reserved|api_path/)
  })
})
