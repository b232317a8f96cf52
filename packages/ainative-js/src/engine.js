/**
 * `StreamingEngine`: runs one stream at a time, reports it on an `EventBus`, and resumes it
 * from the last event id when the connection drops, with nothing lost or repeated.
 *
 * Bus events (`payload` keys): `stream-start` (`url`, `method`, `action`, and the seed's
 * `config`, `data`); `stream-data` (`type`, `id`, and one key named after the type:
 * `token`, `metadata`, `reasoning`, `tool_call`, `tool_result`, `usage`...); `tool` (`type`,
 * `data`, `id`: tool events again); `stream-reconnect` (`attempt`, `delay`, `error`,
 * `lastEventId`); `stream-error` (`error` message, `code`, `retryable`, and `id` or
 * `status`); `stream-end` (`reason`: `complete | aborted | error`, `finishReason`,
 * `streamId`, `usage`, `toolCalls`), exactly once per stream.
 */

import {
  AINativeError,
  ConnectionError,
  ServerError,
  StreamInterrupted,
  StreamingError,
} from './errors.js';
import { EventBus } from './events.js';
import { SSETransport } from './sse.js';
import { endpoints } from './urls.js';
import { WSTransport } from './ws.js';

// Statuses that mean "this transport is not served here": AUTO tries the next one.
const FALLBACK_STATUSES = new Set([403, 404, 405, 426, 501]);
const TOOL_EVENTS = new Set(['tool_call', 'tool_result']);
// Server (by its endpoints) -> the transport AUTO last connected with.
const autoChoice = new Map();

const DEFAULTS = {
  method: 'SSE',
  headers: {},
  reconnect: true,
  reconnectDelay: 1000,
  maxReconnectAttempts: 5,
  maxReconnectDelay: 30000,
  autoOrder: ['SSE', 'WS'],
  cancelTimeout: 5000,
};

function normalize(config) {
  const given = typeof config === 'string' ? { url: config } : { ...config };
  for (const key of Object.keys(given)) if (given[key] === undefined) delete given[key];
  return { ...DEFAULTS, ...given, headers: { ...(given.headers ?? {}) } };
}

const NO_ROUTE_CODES = new Set(['http_error', 'no_route', 'method_not_allowed']);

function objects(value) {
  return Array.isArray(value) ? value.filter((item) => item !== null && typeof item === 'object') : [];
}

function canFallBack(error) {
  if (error instanceof ServerError) {
    // A status with an ainative error body is the server's answer, not a missing route.
    // An ainative server's codes for a route (or method) it does not have.
    return FALLBACK_STATUSES.has(error.status) && NO_ROUTE_CODES.has(error.code);
  }
  return error instanceof ConnectionError;
}

function canRetry(error) {
  return error instanceof StreamInterrupted || error instanceof ConnectionError;
}

function backoff(config, attempt) {
  const delay = Math.min(config.maxReconnectDelay, config.reconnectDelay * 2 ** (attempt - 1));
  return delay * (0.5 + Math.random() * 0.5);
}

/** The state of one stream: what `stop()`, `reconnect()` and the result need. */
class Run {
  constructor(config, data) {
    this.config = config;
    this.data = data;
    this.urls = endpoints(config.url);
    this.transports = new Map();
    this.transport = null;
    this.transportName = undefined;
    this.connection = null;
    this.streamId = undefined;
    this.lastEventId = undefined;
    this.finishReason = undefined;
    this.usage = undefined;
    this.messages = [];
    this.toolCalls = [];
    this.streamError = undefined;
    this.reconnects = 0;
    this.stopped = false;
    this.ended = false;
    this.result = null;
    this.wake = null;
    this.unlisten = null;
  }
}

export class StreamingEngine {
  #run = null;
  #options;

  /**
   * `options.fetch` and `options.WebSocket` replace the global ones (tests, other
   * runtimes).
   */
  constructor(eventBus = new EventBus(), options = {}) {
    this.eventBus = eventBus;
    this.#options = options;
  }

  /** Whether a stream is in progress. */
  isActive() {
    return this.#run !== null;
  }

  /** The server's id of the stream in progress, once known. */
  get streamId() {
    return this.#run?.streamId;
  }

  /**
   * Run a stream to its end, emitting bus events; resolves with the result
   * (`{reason, finishReason, error, streamId, transport, reconnects, usage, messages,
   * toolCalls}`). `messages` are what the server's tool steps added to the conversation
   * (wire messages: `tool_calls`, `tool_call_id`...); `toolCalls` (`{id, name, arguments}`)
   * are the calls to the client's own tools a stream ended by (`finishReason`
   * `'tool_call'`) waits for: answer them with `withToolResults`. Errors are reported on
   * the bus and in the result, not thrown. `config`: `{url, method: 'SSE' |
   * 'WS' | 'AUTO', headers, reconnect, reconnectDelay, maxReconnectAttempts, signal}`
   * (delays in milliseconds); `data`: the action request (`{action, params, ...}`).
   */
  async start(config, data) {
    const events = this.stream(config, data);
    try {
      for await (const item of events) void item;
    } catch (error) {
      if (!(error instanceof AINativeError)) throw error;
      // reported on the bus and in the result
    }
    return this.lastResult;
  }

  /**
   * The same run as an async iterator of `{event, id, streamId}` (bus events are emitted as
   * well). An error that reconnecting cannot cure is thrown after `stream-end`; leaving the
   * loop early stops the stream, on the server too.
   */
  stream(config, data = {}) {
    if (this.#run !== null) {
      throw new StreamingError('a stream is already active; stop() it before starting another');
    }
    const run = new Run(normalize(config), data);
    this.#run = run;
    const signal = run.config.signal;
    if (signal) {
      const onAbort = () => this.#stop(run);
      signal.addEventListener('abort', onAbort, { once: true });
      run.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    return this.#stream(run);
  }

  /** The result of the last stream that ended. */
  lastResult = null;

  /**
   * Abort the stream: cancel it on the server (DELETE / WS `cancel`) and end it here at
   * once (`stream-end` with `reason: 'aborted'`). The promise resolves once the server
   * was told (or `cancelTimeout` passed).
   */
  stop() {
    return this.#run === null ? Promise.resolve() : this.#stop(this.#run);
  }

  /**
   * Drop the current connection, as a network failure would: the stream resumes from the
   * last event id it received. Returns whether there was a connection to drop.
   */
  reconnect() {
    const connection = this.#run?.connection;
    if (!connection) return false;
    connection.drop();
    return true;
  }

  async *#stream(run) {
    const { config, data } = run;
    const action = data?.action ?? 'chat';
    this.eventBus.emit('stream-start', { url: config.url, method: config.method, action, config, data });
    if (config.signal?.aborted) {
      this.#stop(run);
      return;
    }
    let error;
    let left = true;
    try {
      for await (const item of this.#events(run, { action, ...data })) {
        if (run.ended) break;
        this.#dispatch(run, item);
        yield item;
        if (run.ended) break;
      }
      left = false;
    } catch (caught) {
      error = caught;
      left = false;
    } finally {
      if (left && !run.ended) {
        this.#stop(run); // the consumer left the loop early
      }
      this.#end(run, error);
    }
    if (error !== undefined && run.result.reason === 'error') throw error;
  }

  #stop(run) {
    if (run.ended) return Promise.resolve();
    run.stopped = true;
    const told = this.#cancelRemote(run);
    run.connection?.close();
    run.wake?.();
    this.#end(run);
    return told;
  }

  async #cancelRemote(run) {
    const { transport, streamId } = run;
    if (!transport || streamId === undefined || run.finishReason !== undefined) return;
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, run.config.cancelTimeout);
    });
    try {
      await Promise.race([transport.cancel(streamId), timeout]);
    } catch (error) {
      console.warn(`ainative: cancelling stream ${streamId} on the server failed:`, error);
    } finally {
      clearTimeout(timer);
    }
  }

  #end(run, error) {
    if (run.result !== null) return;
    run.ended = true;
    run.unlisten?.();
    run.connection?.close();
    let reason;
    if (run.stopped || run.finishReason === 'cancelled') reason = 'aborted';
    else if (error !== undefined || run.streamError || run.finishReason === 'error') reason = 'error';
    else reason = 'complete';
    if (reason === 'error' && error !== undefined) {
      this.eventBus.emit('stream-error', {
        error: error.message,
        code: error.code,
        retryable: Boolean(error.retryable),
        status: error.status,
      });
    }
    run.result = {
      reason,
      finishReason: run.finishReason,
      error: error ?? run.streamError,
      streamId: run.streamId,
      transport: run.transportName,
      reconnects: run.reconnects,
      usage: run.usage,
      messages: run.messages,
      toolCalls: run.toolCalls,
    };
    this.lastResult = run.result;
    if (this.#run === run) this.#run = null;
    this.eventBus.emit('stream-end', {
      reason,
      finishReason: run.finishReason,
      streamId: run.streamId,
      usage: run.usage,
      toolCalls: run.toolCalls,
    });
  }

  #dispatch(run, item) {
    const { event, id } = item;
    const bus = this.eventBus;
    const { type, data } = event;
    if (type === 'done') {
      run.finishReason = typeof data?.finish_reason === 'string' ? data.finish_reason : 'stop';
      run.usage = data?.usage ?? undefined;
      run.messages = objects(data?.messages);
      run.toolCalls = objects(data?.tool_calls);
    } else if (type === 'error') {
      const message = typeof data === 'string' ? data : JSON.stringify(data);
      run.streamError = new ServerError(message, {
        code: event.code ?? 'error',
        retryable: event.retryable === true,
        id,
      });
      bus.emit('stream-error', { error: message, code: event.code, retryable: event.retryable === true, id });
    } else {
      bus.emit('stream-data', { type, [type]: data, id });
      if (TOOL_EVENTS.has(type)) bus.emit('tool', { type, data, id });
    }
  }

  /** Open, read, and resume after drops: each event once, in order, ending at `done`. */
  async *#events(run, request) {
    const { config } = run;
    let failures = 0;
    while (!run.stopped) {
      let connection = null;
      try {
        connection =
          run.transport && run.streamId !== undefined
            ? await run.transport.resume(run.streamId, run.lastEventId)
            : await this.#open(run, request);
        if (run.stopped) {
          // Stopped while connecting: the server may have started the run already.
          if (run.streamId === undefined && connection.streamId !== undefined) {
            run.streamId = connection.streamId;
            await this.#cancelRemote(run);
          }
          return;
        }
        run.connection = connection;
        if (connection.streamId !== undefined) run.streamId = connection.streamId;
        // Only a reconnect can repeat events: drop those at or below the id resumed from.
        const floor = run.lastEventId;
        for await (const item of connection) {
          if (item.streamId !== undefined) run.streamId = item.streamId;
          if (item.id !== undefined) {
            if (floor !== undefined && item.id <= floor) continue;
            run.lastEventId = item.id;
          }
          failures = 0;
          yield item;
          if (item.event.type === 'done' || run.stopped) return;
        }
        if (run.stopped) return;
        throw new StreamInterrupted("the connection ended before the stream's done event");
      } catch (error) {
        if (run.stopped) return;
        if (!config.reconnect || !canRetry(error)) throw error;
        if (failures >= config.maxReconnectAttempts) {
          // Never connected: the server is unreachable. Connected once: interrupted.
          const Kind =
            run.lastEventId === undefined && error instanceof ConnectionError ? ConnectionError : StreamInterrupted;
          throw new Kind(`gave up after ${failures} reconnect attempts: ${error.message}`, { cause: error });
        }
        failures += 1;
        run.reconnects += 1;
        const delay = backoff(config, failures);
        this.eventBus.emit('stream-reconnect', {
          attempt: failures,
          delay,
          error: error.message,
          lastEventId: run.lastEventId,
        });
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, delay);
          run.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        run.wake = null;
      } finally {
        if (run.connection === connection) run.connection = null;
        connection?.close();
      }
    }
  }

  async #open(run, request) {
    const { config, urls } = run;
    const method = String(config.method).toUpperCase();
    let order;
    if (method === 'AUTO') {
      order = config.autoOrder.map((name) => String(name).toUpperCase());
      const remembered = autoChoice.get(urls.key);
      if (order.includes(remembered)) order = [remembered, ...order.filter((name) => name !== remembered)];
    } else {
      order = [method];
    }
    let firstError;
    for (const [index, name] of order.entries()) {
      const transport = this.#transport(run, name);
      try {
        const connection = await transport.open(request);
        run.transport = transport;
        run.transportName = name;
        if (method === 'AUTO') autoChoice.set(urls.key, name);
        return connection;
      } catch (error) {
        if (index + 1 < order.length && canFallBack(error)) {
          firstError ??= error;
          continue;
        }
        if (firstError !== undefined && !canFallBack(error)) throw error;
        throw firstError ?? error;
      }
    }
    throw new StreamingError(`no transport to try (method ${config.method})`);
  }

  #transport(run, name) {
    let transport = run.transports.get(name);
    if (!transport) {
      const options = { headers: run.config.headers, resumable: run.config.reconnect, ...this.#options };
      if (name === 'SSE') transport = new SSETransport(run.urls, options);
      else if (name === 'WS') transport = new WSTransport(run.urls, options);
      else throw new StreamingError(`unknown stream method ${JSON.stringify(name)}; use 'SSE', 'WS' or 'AUTO'`);
      run.transports.set(name, transport);
    }
    return transport;
  }
}
