/**
 * `EventBus`: the seed's event bus. Listeners get `{type, payload, timestamp, id}`.
 *
 * Events: `action`, `tool`, `stream-start`, `stream-data` (`payload.token` /
 * `payload.metadata`), `stream-reconnect`, `stream-error`, `stream-end` (`payload.reason`:
 * `complete | aborted | error`, exactly once per stream), `state-change`, `error`.
 */

const MAX_HISTORY = 100;
let counter = 0;

export class EventBus {
  #listeners = new Map();
  #global = new Set();
  #history = [];

  /** Emit `type` with `payload` to its listeners, then to the `onAll` listeners. */
  emit(type, payload) {
    counter += 1;
    const event = { type, payload, timestamp: Date.now(), id: `${Date.now()}-${counter}` };
    this.#history.push(event);
    if (this.#history.length > MAX_HISTORY) this.#history.shift();
    const listeners = this.#listeners.get(type);
    if (listeners) {
      for (const listener of [...listeners]) this.#call(listener, event);
    }
    for (const listener of [...this.#global]) this.#call(listener, event);
    return event;
  }

  /** Listen to `type`; returns the function that stops listening. */
  on(type, listener) {
    let listeners = this.#listeners.get(type);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(type, listeners);
    }
    listeners.add(listener);
    return () => this.off(type, listener);
  }

  off(type, listener) {
    this.#listeners.get(type)?.delete(listener);
  }

  /** Listen to the next `type` event only. */
  once(type, listener) {
    const wrapped = (event) => {
      this.off(type, wrapped);
      listener(event);
    };
    return this.on(type, wrapped);
  }

  /** Listen to every event. */
  onAll(listener) {
    this.#global.add(listener);
    return () => {
      this.#global.delete(listener);
    };
  }

  /** Remove the listeners of `type`, or every listener. */
  clear(type) {
    if (type === undefined) {
      this.#listeners.clear();
      this.#global.clear();
    } else {
      this.#listeners.delete(type);
    }
  }

  /** The last 100 events, oldest first. */
  getHistory() {
    return [...this.#history];
  }

  get history() {
    return this.getHistory();
  }

  /**
   * The events of the given types (every type when none) as an async iterator, from now on:
   * `for await (const event of bus.subscribe('stream-data', 'stream-end'))`. Leaving the
   * loop stops listening.
   */
  subscribe(...types) {
    const queue = [];
    let wake = null;
    const push = (event) => {
      if (types.length && !types.includes(event.type)) return;
      queue.push(event);
      if (wake) {
        wake();
        wake = null;
      }
    };
    const stop = this.onAll(push);
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (!queue.length) {
          await new Promise((resolve) => {
            wake = resolve;
          });
        }
        return { value: queue.shift(), done: false };
      },
      async return() {
        stop();
        return { value: undefined, done: true };
      },
    };
  }

  #call(listener, event) {
    try {
      listener(event);
    } catch (error) {
      // One failing listener must not keep the event from the others, nor break a stream.
      if (typeof globalThis.reportError === 'function') globalThis.reportError(error);
      else console.error(error);
    }
  }
}
