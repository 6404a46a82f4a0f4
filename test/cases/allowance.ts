// Shared by the e2e and workers queue reliability tests: background work that may go on only up to
// a mark the test moves phase by phase (`allow(n)`), so each phase starts when the test says, with
// no sleeps.

export class Allowance {
  #allowed = 0
  #wake = () => {}
  #woken = new Promise<void>((r) => (this.#wake = r))

  /** Lets the work go on up to `upTo` (exclusive), waking whoever waits. */
  allow(upTo: number): void {
    this.#allowed = upTo
    const wake = this.#wake
    this.#woken = new Promise<void>((r) => (this.#wake = r))
    wake()
  }

  /** May item `n` go now? */
  allows(n: number): boolean {
    return n < this.#allowed
  }

  /** Resolves at the next `allow`. */
  moved(): Promise<void> {
    return this.#woken
  }
}
