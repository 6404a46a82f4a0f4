// The deployment's channel-signing key. `III_SIGNING_SECRET` when set; otherwise a secret the
// default namespace's registry generated once and keeps, so local dev needs no setup. Each isolate
// asks for it once and keeps the imported key (docs/architecture.md, "Channels born where they are used").

import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { registryStub } from './stubs'
import { signingKeyFor } from '../channel/keys'

let generated: Promise<string> | null = null

export function signingKey(env: Env): Promise<CryptoKey> {
  if (env.III_SIGNING_SECRET) return signingKeyFor(env.III_SIGNING_SECRET)
  if (!generated) {
    generated = registryStub(env, DEFAULT_NAMESPACE).signingSecret()
    // A failed call must not stick: the next caller asks again.
    generated.catch(() => (generated = null))
  }
  return generated.then(signingKeyFor)
}
