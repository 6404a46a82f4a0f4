// The front door's errors, in the one shape of every HTTP error this Worker answers
// (protocol/http-errors.ts). Routes and middleware throw `refuse(...)`; the app's one `onError`
// renders it (src/index.ts).

import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { httpError } from '../protocol/http-errors'

/** Codes for the statuses the front door answers itself (invocation errors keep the engine's codes). */
const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  426: 'UPGRADE_REQUIRED',
  500: 'INTERNAL',
  502: 'BAD_GATEWAY',
  503: 'UNAVAILABLE',
}

export const codeForStatus = (status: number): string => CODES[status] ?? 'ERROR'

/** Stops a route or middleware with an error response in the one shape (rendered by `onError`). */
export function refuse(status: ContentfulStatusCode, message: string, code = codeForStatus(status)): never {
  throw new HTTPException(status, { message, res: httpError(status, code, message) })
}
