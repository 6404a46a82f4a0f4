// The tag a hibernatable socket was accepted with (the channel's end, 'worker' or 'link').

/**
 * Late events (frames or a Close still in flight) can reach an object after it dropped itself;
 * workerd then refuses the tag lookup: no tag.
 */
export function socketTag(ctx: DurableObjectState, ws: WebSocket): string | undefined {
  try {
    return ctx.getTags(ws)[0]
  } catch {
    return undefined
  }
}
