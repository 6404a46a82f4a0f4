// Which pages may use an engine without a token (src/http/origin.ts): pages of this machine, the
// engine's own page, and programs that send no Origin; never a page of another origin.
import { describe, expect, it } from 'vitest'
import { isLoopbackHost, originAllowed } from '../../src/http/origin'

const ENGINE = 'http://127.0.0.1:8787'

describe('originAllowed', () => {
  it('lets programs in: no Origin header', () => {
    expect(originAllowed(null, ENGINE)).toBe(true)
  })

  it('lets pages of this machine in, on any port and scheme', () => {
    for (const origin of ['http://127.0.0.1:8787', 'http://localhost:5173', 'https://localhost', 'http://[::1]:3000', 'http://127.8.9.10:1234']) {
      expect(originAllowed(origin, ENGINE), origin).toBe(true)
    }
  })

  it("lets the engine's own page in (the page at / of a deployment opened with III_ALLOW_OPEN)", () => {
    expect(originAllowed('https://iii.example.workers.dev', 'https://iii.example.workers.dev')).toBe(true)
  })

  it('refuses pages of any other origin, and origins that name no page', () => {
    const refused = [
      'https://evil.example', // the attack: a page anywhere aiming at ws://127.0.0.1:8787
      'http://evil.example:8787',
      'null', // sandboxed frames, files, cross-origin redirects
      'http://localhost.evil.example',
      'http://127.0.0.1.evil.example',
      'http://evil.example@127.0.0.1', // not an origin (a browser never sends this form)
      'http://127.0.0.1:8787/path', // not an origin either
      'file://',
      'chrome-extension://abcdef',
      'http://[::ffff:127.0.0.1]', // mapped loopback: no browser sends it; refused rather than guessed
      'http://0.0.0.0:8787',
      'http://192.168.1.10:8787', // another machine on the LAN
      '',
      'garbage',
    ]
    for (const origin of refused) expect(originAllowed(origin, ENGINE), origin).toBe(false)
  })
})

describe('isLoopbackHost', () => {
  it('knows the names and addresses of this machine, as URL normalises them', () => {
    for (const host of ['localhost', '127.0.0.1', '127.255.0.1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true)
    for (const host of ['localhost.', 'evil.example', '128.0.0.1', '127.0.0.1.nip.io', '[::2]', '0.0.0.0', '']) expect(isLoopbackHost(host), host).toBe(false)
  })
})
