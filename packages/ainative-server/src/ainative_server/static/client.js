// ainative 0.1.0: the JavaScript client as one ES module, built from
// packages/ainative-js/src by scripts/build.mjs (edit the sources, not this file).

// -- errors.js ---------------------------------------------------------------------------

const __errors = (() => {
/**
 * The client's errors: one tree rooted at `AINativeError`.
 *
 *     AINativeError            code, retryable
 *     ├── StreamingError       misuse: a stream is already active
 *     ├── InvalidRequestError  a request this client cannot send (a tool call without output)
 *     ├── ConnectionError      could not connect (network down, route not served)
 *     ├── StreamInterrupted    the connection dropped before the stream's done event
 *     ├── ProtocolError        the server sent something undecodable
 *     └── ServerError          the server's own error: a refused request (`status`,
 *                              `retryAfter`) or an error event of the stream (`id`)
 */

class AINativeError extends Error {
  constructor(message, code = 'ainative_error', { retryable = false, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AINativeError';
    this.code = code;
    this.retryable = retryable;
  }
}

class StreamingError extends AINativeError {
  constructor(message) {
    super(message, 'streaming_error');
    this.name = 'StreamingError';
  }
}

class InvalidRequestError extends AINativeError {
  constructor(message) {
    super(message, 'invalid_request');
    this.name = 'InvalidRequestError';
  }
}

class ConnectionError extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'connect_error', { retryable: true, ...options });
    this.name = 'ConnectionError';
  }
}

class StreamInterrupted extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'stream_interrupted', { retryable: true, ...options });
    this.name = 'StreamInterrupted';
  }
}

class ProtocolError extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'protocol_error', options);
    this.name = 'ProtocolError';
  }
}

class ServerError extends AINativeError {
  constructor(message, { code = 'http_error', retryable = false, status, retryAfter, id } = {}) {
    super(message, code, { retryable });
    this.name = 'ServerError';
    this.status = status;
    this.retryAfter = retryAfter;
    this.id = id;
  }
}

/** The error of a refusal from its fields: an HTTP error body's `error` object, or a WS error frame. */
function refusalError(status, fields, retryAfterHeader) {
  const f = fields && typeof fields === 'object' ? fields : {};
  const message = typeof f.message === 'string' ? f.message : typeof f.data === 'string' ? f.data : '';
  let retryAfter = typeof f.retry_after === 'number' ? f.retry_after : undefined;
  if (retryAfter === undefined && retryAfterHeader) {
    const seconds = Number(retryAfterHeader);
    if (Number.isFinite(seconds)) retryAfter = seconds;
  }
  const code = typeof f.code === 'string' ? f.code : 'http_error';
  return new ServerError(`${status}${message ? `: ${message}` : ''}`, {
    code,
    retryable: f.retryable === true,
    status,
    retryAfter,
  });
}

/** The error of an HTTP error response (its body read as ainative's `{"error": {...}}`). */
async function responseError(response) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the body is lost with the connection: the status says enough
  }
  let fields = null;
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'object' && body.error !== null) fields = body.error;
  } catch {
    // not ainative's JSON: a proxy's or a framework's page
  }
  if (fields === null) {
    const code = response.headers.get('x-ainative-error-code');
    fields = { message: text.trim().slice(0, 200) || response.statusText, code: code ?? undefined };
  }
  return refusalError(response.status, fields, response.headers.get('retry-after'));
}
return { AINativeError, StreamingError, InvalidRequestError, ConnectionError, StreamInterrupted, ProtocolError, ServerError, refusalError, responseError };
})();

// -- events.js ---------------------------------------------------------------------------

const __events = (() => {
/**
 * `EventBus`: the seed's event bus. Listeners get `{type, payload, timestamp, id}`.
 *
 * Events: `action`, `tool`, `stream-start`, `stream-data` (`payload.token` /
 * `payload.metadata`), `stream-reconnect`, `stream-error`, `stream-end` (`payload.reason`:
 * `complete | aborted | error`, exactly once per stream), `state-change`, `error`.
 */

const MAX_HISTORY = 100;
let counter = 0;

class EventBus {
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
return { EventBus };
})();

// -- sse.js ------------------------------------------------------------------------------

const __sse = (() => {
/**
 * The SSE transport over `fetch`: `POST {root}/stream` starts a stream, `GET
 * {root}/stream/{id}` with `Last-Event-ID` resumes it, `DELETE` cancels it.
 *
 * `fetch` rather than `EventSource`: a POST body, headers such as the bearer key, and
 * errors read from the response.
 */

const { ConnectionError, ProtocolError, StreamInterrupted, responseError } = __errors;

const STREAM_ID_HEADER = 'x-ainative-stream-id';
const DONE = '[DONE]';

/** A spec-correct Server-Sent Events decoder: `feed(text)` returns the completed events. */
class SSEDecoder {
  #buffer = '';
  #data = [];
  #id = '';
  #sawCR = false;

  /** The events completed by `text`: `{data, id}` (`id`: the last event id so far). */
  feed(text) {
    let chunk = text;
    if (this.#sawCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.#sawCR = chunk.endsWith('\r');
    const lines = (this.#buffer + chunk).split(/\r\n|\r|\n/);
    this.#buffer = lines.pop();
    const events = [];
    for (const line of lines) {
      if (line === '') {
        if (this.#data.length) events.push({ data: this.#data.join('\n'), id: this.#id });
        this.#data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.#data.push(value);
      else if (field === 'id' && !value.includes('\0')) this.#id = value;
    }
    return events;
  }
}

function eventId(text) {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** One HTTP response's events: `for await (const item of connection)`; `drop()`, `close()`. */
class SSEConnection {
  constructor(response, controller, streamId) {
    this.response = response;
    this.controller = controller;
    this.streamId = streamId;
    this.closed = false;
  }

  /** Lose the connection as a network failure would: the reader sees `StreamInterrupted`. */
  drop() {
    this.controller.abort(new StreamInterrupted('connection dropped'));
  }

  close() {
    this.closed = true;
    this.controller.abort(new StreamInterrupted('connection closed'));
  }

  async *[Symbol.asyncIterator]() {
    const reader = this.response.body.getReader();
    const text = new TextDecoder();
    const decoder = new SSEDecoder();
    try {
      while (true) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (this.closed) return;
          throw new StreamInterrupted(`the connection was lost: ${error?.message ?? error}`, {
            cause: error,
          });
        }
        if (chunk.done) return;
        for (const { data, id } of decoder.feed(text.decode(chunk.value, { stream: true }))) {
          if (data === DONE) continue;
          let event;
          try {
            event = JSON.parse(data);
          } catch (error) {
            throw new ProtocolError(`undecodable SSE event: ${data.slice(0, 80)}`, { cause: error });
          }
          if (event === null || typeof event !== 'object' || typeof event.type !== 'string') {
            throw new ProtocolError(`an SSE event without a type: ${data.slice(0, 80)}`);
          }
          if (event.type === 'metadata' && typeof event.data?.stream_id === 'string') {
            this.streamId = event.data.stream_id;
          }
          yield { event, id: eventId(id), streamId: this.streamId };
        }
      }
    } finally {
      this.closed = true;
      this.controller.abort(new StreamInterrupted('connection closed'));
      reader.releaseLock?.();
    }
  }
}

class SSETransport {
  name = 'SSE';

  /**
   * `urls` from `endpoints()`; `headers` go with every request. `resumable`: the client
   * declares it resumes after a drop (`X-AINative-Resumable: 1`), so the server keeps the
   * run going for its grace period; without it a drop cancels the run.
   */
  constructor(urls, { headers = {}, fetch, resumable = true } = {}) {
    this.urls = urls;
    this.headers = headers;
    this.resumable = resumable;
    this.fetch = fetch ?? ((...args) => globalThis.fetch(...args));
  }

  open(request) {
    return this.#connect('POST', this.urls.stream, { 'Content-Type': 'application/json' }, JSON.stringify(request));
  }

  resume(streamId, lastEventId) {
    const headers = lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) };
    return this.#connect('GET', `${this.urls.stream}/${encodeURIComponent(streamId)}`, headers);
  }

  /** Cancel the stream on the server (a stream it no longer knows is not an error). */
  async cancel(streamId) {
    const response = await this.fetch(`${this.urls.stream}/${encodeURIComponent(streamId)}`, {
      method: 'DELETE',
      headers: { ...this.headers },
    });
    if (!response.ok && response.status !== 404) throw await responseError(response);
    await response.body?.cancel?.();
  }

  async #connect(method, url, extra, body) {
    const controller = new AbortController();
    const headers = { Accept: 'text/event-stream', ...extra, ...this.headers };
    if (this.resumable) headers['X-AINative-Resumable'] = '1';
    let response;
    try {
      response = await this.fetch(url, { method, headers, body, signal: controller.signal, cache: 'no-store' });
    } catch (error) {
      throw new ConnectionError(`could not connect to ${url}: ${error?.message ?? error}`, { cause: error });
    }
    if (response.status !== 200) throw await responseError(response);
    if (!response.body) throw new ProtocolError('the response has no body to read');
    return new SSEConnection(response, controller, response.headers.get(STREAM_ID_HEADER) ?? undefined);
  }
}
return { SSEDecoder, SSETransport };
})();

// -- urls.js -----------------------------------------------------------------------------

const __urls = (() => {
/**
 * The server's endpoints from the URL a user gives: a base URL (`http://h:8000`, the
 * endpoints are then under `/ai`) or an endpoint URL (`.../ai/stream`, `.../ai/ws`,
 * `ws://` accepted), whose prefix is then kept whatever it is.
 */

function endpoints(url) {
  let text = String(url ?? globalThis.location?.origin ?? '').trim();
  if (!text) throw new TypeError('a server URL is required');
  const base = globalThis.location?.href;
  const parsed = new URL(text, base);
  parsed.search = '';
  parsed.hash = '';
  if (parsed.protocol === 'ws:') parsed.protocol = 'http:';
  if (parsed.protocol === 'wss:') parsed.protocol = 'https:';
  let path = parsed.pathname.replace(/\/+$/, '');
  if (path.endsWith('/stream')) path = path.slice(0, -'/stream'.length);
  else if (path.endsWith('/ws')) path = path.slice(0, -'/ws'.length);
  else path += '/ai';
  text = `${parsed.origin}${path}`;
  const ws = new URL(`${text}/ws`);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    root: text,
    stream: `${text}/stream`,
    ws: ws.href,
    wsTicket: `${text}/ws-ticket`,
    action: `${text}/action`,
    providers: `${text}/providers`,
    key: text,
  };
}

/** The bearer token of an `Authorization` header (a WebSocket trades it for a `?ticket=`). */
function bearerToken(headers) {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'authorization') {
      const match = /^\s*bearer\s+(.+?)\s*$/i.exec(String(value));
      if (match) return match[1];
    }
  }
  return null;
}
return { endpoints, bearerToken };
})();

// -- ws.js -------------------------------------------------------------------------------

const __ws = (() => {
/**
 * The WebSocket transport: `{root}/ws`, one socket per stream. The request is the first
 * frame; `{"type": "resume", "stream_id", "last_event_id"}` resumes; `{"type": "cancel",
 * "stream_id"}` cancels. A browser cannot set headers on a WebSocket, so the bearer key of
 * an `Authorization` header is traded for a single-use `?ticket=` (`POST /ai/ws-ticket`).
 */

const { ConnectionError, ProtocolError, StreamInterrupted, refusalError } = __errors;
const { bearerToken } = __urls;

const NORMAL = 1000;

/** One socket carrying one stream: `for await (const item of connection)`; `drop()`, `close()`. */
class WSConnection {
  #queue = [];
  #wake = null;
  #error = null;
  #ended = false;

  constructor(socket) {
    this.socket = socket;
    this.streamId = undefined;
    socket.onmessage = (message) => this.#receive(message.data);
    socket.onclose = (close) => {
      if (!this.#ended) {
        this.#fail(new StreamInterrupted(`the WebSocket closed (code ${close.code}) before the stream's done event`));
      }
    };
  }

  get isOpen() {
    return this.socket.readyState === 1;
  }

  send(frame) {
    this.socket.send(JSON.stringify(frame));
  }

  /** Lose the connection as a network failure would: the reader sees `StreamInterrupted`. */
  drop() {
    this.#fail(new StreamInterrupted('connection dropped'));
    this.socket.close(NORMAL);
  }

  close() {
    this.#end();
    if (this.socket.readyState <= 1) this.socket.close(NORMAL);
  }

  async *[Symbol.asyncIterator]() {
    try {
      while (true) {
        if (this.#queue.length) {
          yield this.#queue.shift();
        } else if (this.#error) {
          throw this.#error;
        } else if (this.#ended) {
          return;
        } else {
          await new Promise((resolve) => {
            this.#wake = resolve;
          });
        }
      }
    } finally {
      this.close();
    }
  }

  #receive(text) {
    if (this.#ended || this.#error) return;
    let frame;
    try {
      frame = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
    } catch (error) {
      this.#fail(new ProtocolError(`undecodable WebSocket frame: ${String(text).slice(0, 80)}`, { cause: error }));
      return;
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') {
      this.#fail(new ProtocolError(`a WebSocket frame without a type: ${String(text).slice(0, 80)}`));
      return;
    }
    const id = Number.isInteger(frame.id) ? frame.id : undefined;
    if (id === undefined && frame.type === 'done') return; // the end of a refusal, already reported
    if (id === undefined && frame.type === 'error') {
      // The server refused the request before its stream started.
      this.#fail(refusalError(frame.status ?? 0, { ...frame, message: frame.data }));
      return;
    }
    if (typeof frame.stream_id === 'string') this.streamId = frame.stream_id;
    this.#push({ event: frame, id, streamId: this.streamId });
    if (frame.type === 'done') this.close();
  }

  #push(item) {
    this.#queue.push(item);
    this.#poke();
  }

  #fail(error) {
    if (!this.#error && !this.#ended) this.#error = error;
    this.#poke();
  }

  #end() {
    this.#ended = true;
    this.#poke();
  }

  #poke() {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

class WSTransport {
  name = 'WS';

  /**
   * `urls` from `endpoints()`; with an `Authorization: Bearer` header, each socket first
   * gets a single-use ticket (`POST /ai/ws-ticket`) and opens with `?ticket=`, so the key
   * never goes in a URL. `resumable`: the client declares it resumes after a drop
   * (`?resumable=1`).
   */
  constructor(urls, { headers = {}, WebSocket, fetch, resumable = true } = {}) {
    this.urls = urls;
    this.headers = headers;
    this.fetch = fetch ?? ((...args) => globalThis.fetch(...args));
    this.resumable = resumable;
    this.WebSocket = WebSocket ?? globalThis.WebSocket;
    this.current = null;
  }

  open(request) {
    return this.#connect(request);
  }

  resume(streamId, lastEventId) {
    return this.#connect({ type: 'resume', stream_id: streamId, last_event_id: lastEventId ?? 0 });
  }

  /** Cancel the stream on the server: a `cancel` frame on the open socket, or on a new one. */
  async cancel(streamId) {
    const frame = { type: 'cancel', stream_id: streamId };
    if (this.current?.isOpen) {
      this.current.send(frame);
      return;
    }
    const connection = await this.#connect(frame);
    connection.close();
  }

  /** A single-use WebSocket ticket for the bearer key of `headers`. */
  async #ticket() {
    let response;
    try {
      response = await this.fetch(this.urls.wsTicket, { method: 'POST', headers: { ...this.headers } });
    } catch (error) {
      throw new ConnectionError(`could not reach ${this.urls.wsTicket}: ${error?.message ?? error}`, { cause: error });
    }
    if (!response.ok) throw new ConnectionError(`could not open ${this.urls.ws} (ticket: HTTP ${response.status})`);
    const { ticket } = await response.json();
    return ticket;
  }

  async #connect(first) {
    const Socket = this.WebSocket;
    if (typeof Socket !== 'function') {
      throw new ConnectionError('WebSocket is not available in this environment');
    }
    const query = [];
    if (bearerToken(this.headers)) query.push(`ticket=${encodeURIComponent(await this.#ticket())}`);
    if (this.resumable) query.push('resumable=1');
    const url = query.length ? `${this.urls.ws}?${query.join('&')}` : this.urls.ws;
    return new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new Socket(url);
      } catch (error) {
        reject(new ConnectionError(`could not open ${this.urls.ws}: ${error?.message ?? error}`, { cause: error }));
        return;
      }
      // Some runtimes fire only `error` for a refused handshake, browsers `error` then `close`.
      socket.onerror = () => {
        reject(new ConnectionError(`could not open ${this.urls.ws}`));
      };
      socket.onclose = (close) => {
        reject(new ConnectionError(`could not open ${this.urls.ws} (close code ${close.code})`));
      };
      socket.onopen = () => {
        const connection = new WSConnection(socket);
        this.current = connection;
        try {
          connection.send(first);
        } catch (error) {
          reject(new ConnectionError(`could not send on ${this.urls.ws}: ${error?.message ?? error}`, { cause: error }));
          return;
        }
        resolve(connection);
      };
    });
  }
}
return { WSTransport };
})();

// -- engine.js ---------------------------------------------------------------------------

const __engine = (() => {
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

const { AINativeError, ConnectionError, ServerError, StreamInterrupted, StreamingError } = __errors;
const { EventBus } = __events;
const { SSETransport } = __sse;
const { endpoints } = __urls;
const { WSTransport } = __ws;

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

class StreamingEngine {
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
return { StreamingEngine };
})();

// -- tools.js ----------------------------------------------------------------------------

const __tools = (() => {
/**
 * Answering the client's tools: the request that continues a stream ended by tool calls.
 */

const { InvalidRequestError } = __errors;

const own = (object, key) => object != null && Object.prototype.hasOwnProperty.call(object, key);

/**
 * The wire `tool` message answering `call` (`{id, name}`): `outputs[id]` (text as is,
 * anything else as JSON) or `errors[id]` (with `is_error`, read by the model as the call's
 * error). A call with neither is an `InvalidRequestError`.
 */
function toolAnswer(call, outputs = {}, errors = {}) {
  const id = String(call?.id);
  const answer = { role: 'tool', tool_call_id: id };
  if (call?.name) answer.name = String(call.name);
  if (own(outputs, id)) {
    const value = outputs[id];
    answer.content = typeof value === 'string' ? value : JSON.stringify(value);
  } else if (own(errors, id)) {
    answer.content = String(errors[id]);
    answer.is_error = true;
  } else {
    throw new InvalidRequestError(
      `no output for tool call ${JSON.stringify(id)} (${call?.name}): give it in outputs or errors`,
    );
  }
  return answer;
}

/**
 * The request that continues `request`'s conversation once the client ran the tools its
 * stream ended with (`result.finishReason === 'tool_call'`; `result` is what
 * `StreamingEngine.start` resolved with).
 *
 * Its `context.messages` are `request`'s, then its `params.message` as the user's turn,
 * then what the stream added (`result.messages`), then one tool message per call of
 * `result.toolCalls`: `outputs[id]` or `errors[id]` (see `toolAnswer`). It has no
 * `params.message`: the server continues the conversation as it stands. A call with
 * neither output nor error throws an `InvalidRequestError`.
 */
function withToolResults(request, result, outputs, { errors = {} } = {}) {
  const context = request?.context ?? {};
  const messages = [...(Array.isArray(context.messages) ? context.messages : [])];
  const params = { ...(request?.params ?? {}) };
  let message = params.message;
  delete params.message;
  if (!message) {
    message = params.prompt;
    delete params.prompt;
  }
  if (typeof message === 'string') messages.push({ role: 'user', content: message });
  messages.push(...(result?.messages ?? []));
  for (const call of result?.toolCalls ?? []) messages.push(toolAnswer(call, outputs, errors));
  return { ...request, params, context: { ...context, messages } };
}
return { toolAnswer, withToolResults };
})();

// -- app.js ------------------------------------------------------------------------------

const __app = (() => {
/**
 * `AIApp`: a chat application's state driven by the server, for pages without a framework.
 *
 * State: `{messages, context, streaming, error, metadata}` plus the keys of
 * `initialState`; a new object on every change (listeners can compare by identity).
 * Messages: `{id, role, content, timestamp, metadata?}`; assistant messages may hold
 * `toolCalls` (`{id, name, arguments}`, arguments as JSON text) and `providerMetadata`,
 * tool messages `toolCallId`, `name` and `isError`.
 */

const { ConnectionError, InvalidRequestError, StreamingError, responseError } = __errors;
const { EventBus } = __events;
const { StreamingEngine } = __engine;
const { toolAnswer } = __tools;
const { endpoints } = __urls;

let counter = 0;

function messageId() {
  counter += 1;
  return `m${Date.now().toString(36)}${counter}`;
}

/** A state message as the wire's Message (`tool_calls`, `tool_call_id`, `is_error`...). */
function wireMessage(message) {
  const wire = { role: message.role, content: message.content ?? '' };
  if (message.name) wire.name = message.name;
  if (message.toolCallId !== undefined) wire.tool_call_id = message.toolCallId;
  if (message.toolCalls?.length) {
    wire.tool_calls = message.toolCalls.map(({ id, name, arguments: args }) => ({ id, name, arguments: args }));
  }
  if (message.isError) wire.is_error = true;
  if (message.providerMetadata && Object.keys(message.providerMetadata).length) {
    wire.provider_metadata = message.providerMetadata;
  }
  return wire;
}

/** The fields of a state message for a wire Message (no `id`, `timestamp`). */
function stateFields(wire) {
  const fields = { role: wire.role, content: typeof wire.content === 'string' ? wire.content : '' };
  if (wire.name) fields.name = String(wire.name);
  if (wire.tool_call_id != null) fields.toolCallId = String(wire.tool_call_id);
  if (Array.isArray(wire.tool_calls) && wire.tool_calls.length) {
    fields.toolCalls = wire.tool_calls.map((call) => ({
      id: String(call?.id),
      name: String(call?.name ?? ''),
      arguments: typeof call?.arguments === 'string' ? call.arguments : JSON.stringify(call?.arguments ?? {}),
    }));
  }
  if (wire.is_error === true) fields.isError = true;
  const metadata = wire.provider_metadata;
  if (metadata && typeof metadata === 'object' && Object.keys(metadata).length) fields.providerMetadata = metadata;
  return fields;
}

/** The state fields of the tool message a `tool_result` event's data stands for. */
function resultFields(data) {
  const fields = { role: 'tool', toolCallId: String(data.id) };
  if (data.name) fields.name = String(data.name);
  if (data.error !== undefined) {
    fields.content = String(data.error);
    fields.isError = true;
  } else {
    fields.content = typeof data.result === 'string' ? data.result : JSON.stringify(data.result ?? null);
  }
  return fields;
}

class AIApp {
  /**
   * `config`: `apiUrl` (default: the page's origin), `streamMethod` (`'SSE'`, `'WS'`,
   * `'AUTO'`), `initialState`, `reconnect`, `debug` (logs every bus event), and beyond the
   * seed: `apiKey`, `headers`, `provider`, `model`, `options` (provider options sent with
   * every request; the client's own tools go there as `options.tools`, `[{name,
   * description, parameters}]`), `tools` (the server tools the model may call: `true` or
   * their names; sent with every request), `reconnectDelay`, `maxReconnectAttempts`,
   * `fetch`, `WebSocket`.
   */
  constructor(config = {}) {
    this.config = { streamMethod: 'SSE', reconnect: true, ...config };
    this.eventBus = new EventBus();
    this.engine = new StreamingEngine(this.eventBus, { fetch: config.fetch, WebSocket: config.WebSocket });
    this.state = {
      messages: [],
      context: {},
      streaming: false,
      error: null,
      metadata: {},
      ...(config.initialState ?? {}),
    };
    this.listeners = new Set();
    /** The client's tools the last stream's model called (`{id, name, arguments}`): see `submitToolResults`. */
    this.pendingToolCalls = [];
    if (this.config.debug) {
      this.eventBus.onAll((event) => console.log('[AINative Debug]', event.type, event.payload));
    }
  }

  /** The current state (the seed's `getState()`). */
  getState() {
    return this.state;
  }

  /** Call `listener(state)` after every change; returns the function that stops it. */
  onStateChange(listener) {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Change the configuration for the next requests (`provider`, `model`, `streamMethod`...). */
  configure(changes) {
    Object.assign(this.config, changes);
  }

  /**
   * Append the user's message and stream the reply into a new assistant message (the
   * conversation so far goes along as `context.messages`, tool calls and results
   * included). Resolves with the state once the reply has ended; errors end up in
   * `state.error` and on the bus. A tool loop shows as it runs: each call joins the
   * assistant message's `toolCalls`, each server tool's result is a `tool` message after
   * it, and what the model says next is a new assistant message. A reply ended by calls
   * to the client's own tools leaves them in `pendingToolCalls`.
   */
  async sendMessage(content, options = {}) {
    if (options.stream !== false) this.#checkIdle();
    const history = this.state.messages.map(wireMessage);
    this.#set({ messages: [...this.state.messages, this.#message('user', content)] });
    return this.action('chat', { message: content }, { stream: true, ...options, history });
  }

  /**
   * Answer `pendingToolCalls` (`outputs[id]`: text as is, anything else as JSON; or
   * `errors[id]`, which the model reads as the call's error) and let the model go on: the
   * tool messages join the state and the conversation is sent without a new message.
   * Throws an `InvalidRequestError` when a call has no answer or none is pending.
   */
  async submitToolResults(outputs = {}, options = {}) {
    const { errors = {}, ...rest } = options;
    if (rest.stream !== false) this.#checkIdle();
    const pending = this.pendingToolCalls;
    if (!pending.length) throw new InvalidRequestError('cannot submit tool results: no pending calls');
    const answers = pending.map((call) => toolAnswer(call, outputs, errors));
    this.pendingToolCalls = [];
    const added = answers.map((answer) => this.#message('tool', '', stateFields(answer)));
    this.#set({ messages: [...this.state.messages, ...added] });
    const history = this.state.messages.map(wireMessage);
    return this.action('chat', {}, { stream: true, ...rest, history });
  }

  /** Run action `name` with `params`, streamed (`{stream: true}`) or not; `context` is merged in. */
  async action(name, params = {}, options = {}) {
    const { stream = false, context = {}, history } = options;
    if (stream) this.#checkIdle();
    if (Object.keys(context).length) this.#set({ context: { ...this.state.context, ...context } });
    const request = {
      action: name,
      params,
      context: history === undefined ? { ...this.state.context } : { ...this.state.context, messages: history },
      options: { ...(this.config.options ?? {}) },
    };
    if (this.config.tools !== undefined && this.config.tools !== null) request.tools = this.config.tools;
    if (this.config.provider) request.provider = this.config.provider;
    if (this.config.model) request.model = this.config.model;
    this.eventBus.emit('action', { action: name, params });
    return stream ? this.#stream(request) : this.#call(request);
  }

  /** Stop the reply being streamed, on the server too; what arrived is kept. */
  stopStreaming() {
    const stopping = this.engine.stop();
    if (this.state.streaming) this.#set({ streaming: false });
    return stopping;
  }

  /** Stop any stream and drop every listener. */
  destroy() {
    this.engine.stop();
    this.listeners.clear();
    this.eventBus.clear();
  }

  #checkIdle() {
    if (this.engine.isActive()) {
      throw new StreamingError('a reply is streaming; stopStreaming() before sending another');
    }
  }

  #headers() {
    const headers = { ...(this.config.headers ?? {}) };
    if (this.config.apiKey) headers.Authorization = `Bearer ${this.config.apiKey}`;
    return headers;
  }

  async #stream(request) {
    const first = this.#message('assistant', '');
    this.pendingToolCalls = [];
    this.#set({ messages: [...this.state.messages, first], streaming: true, error: null });
    const firstIndex = this.state.messages.length - 1;
    // The assistant message the model writes to now; after tool results, the next token opens another.
    let reply = first;
    let text = '';
    let calls = [];
    let afterResults = false;
    const bus = this.eventBus;
    const stops = [
      bus.on('stream-data', ({ payload }) => {
        if (payload.type === 'token') {
          if (afterResults) {
            afterResults = false;
            reply = this.#message('assistant', '');
            text = '';
            calls = [];
            this.#set({ messages: [...this.state.messages, reply] });
          }
          text += payload.token;
          this.#update(reply.id, { content: text });
        } else if (payload.type === 'metadata') {
          this.#set({ metadata: { ...this.state.metadata, ...payload.metadata } });
        } else if (payload.type === 'tool_call' && payload.tool_call?.phase === 'end') {
          const call = payload.tool_call;
          const entry = { id: String(call.id), name: String(call.name ?? ''), arguments: String(call.arguments ?? '') };
          calls = [...calls, entry];
          this.#update(reply.id, { toolCalls: calls });
        } else if (payload.type === 'tool_result' && payload.tool_result && typeof payload.tool_result === 'object') {
          const answer = this.#message('tool', '', resultFields(payload.tool_result));
          this.#set({ messages: [...this.state.messages, answer] });
          afterResults = true;
        }
      }),
      bus.on('stream-error', ({ payload }) => {
        this.#set({ error: new Error(payload.error) });
      }),
    ];
    const config = {
      url: this.config.apiUrl,
      method: this.config.streamMethod,
      headers: this.#headers(),
      reconnect: this.config.reconnect,
      reconnectDelay: this.config.reconnectDelay,
      maxReconnectAttempts: this.config.maxReconnectAttempts,
    };
    try {
      const result = await this.engine.start(config, request);
      this.#update(reply.id, { metadata: { finishReason: result.finishReason, streamId: result.streamId } });
      this.pendingToolCalls = [...(result.toolCalls ?? [])];
      this.#exactTranscript(firstIndex, result.messages ?? []);
    } finally {
      for (const stop of stops) stop();
      this.#set({ streaming: false });
    }
    return this.state;
  }

  /**
   * Put the server's own record of the tool steps (what providers attached to them
   * included) in place of the messages built while they streamed.
   */
  #exactTranscript(first, transcript) {
    const shown = this.state.messages.slice(first, first + transcript.length);
    if (!transcript.length || shown.map((m) => m.role).join() !== transcript.map((m) => m.role).join()) return;
    const messages = [...this.state.messages];
    transcript.forEach((wire, offset) => {
      const { id, timestamp, metadata } = messages[first + offset];
      const exact = { id, timestamp, ...stateFields(wire) };
      if (metadata !== undefined) exact.metadata = metadata;
      messages[first + offset] = exact;
    });
    this.#set({ messages });
  }

  async #call(request) {
    const url = endpoints(this.config.apiUrl).action;
    const fetch = this.config.fetch ?? ((...args) => globalThis.fetch(...args));
    try {
      let response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...this.#headers() },
          body: JSON.stringify(request),
        });
      } catch (error) {
        throw new ConnectionError(`could not connect to ${url}: ${error?.message ?? error}`, { cause: error });
      }
      if (!response.ok) throw await responseError(response);
      const body = await response.json();
      const added = (body.messages ?? []).map((m) => this.#message(m.role, '', stateFields(m)));
      this.#set({
        messages: [...this.state.messages, ...added],
        context: { ...this.state.context, ...(body.context ?? {}) },
        error: null,
      });
    } catch (error) {
      this.#set({ error });
      this.eventBus.emit('error', { error });
    }
    return this.state;
  }

  #message(role, content, fields = {}) {
    return { id: messageId(), role, content, timestamp: Date.now(), ...fields };
  }

  #update(id, changes) {
    const merge = (m) =>
      changes.metadata === undefined
        ? { ...m, ...changes }
        : { ...m, ...changes, metadata: { ...(m.metadata ?? {}), ...changes.metadata } };
    const messages = this.state.messages.map((m) => (m.id === id ? merge(m) : m));
    this.#set({ messages });
  }

  #set(changes) {
    this.state = { ...this.state, ...changes };
    this.eventBus.emit('state-change', { state: this.state });
    for (const listener of [...this.listeners]) listener(this.state);
  }
}

/** The seed's factory: `createAIApp(config)` is `new AIApp(config)`. */
function createAIApp(config) {
  return new AIApp(config);
}
return { AIApp, createAIApp };
})();

// -- client.js ---------------------------------------------------------------------------

const __client = (() => {
/**
 * `AINativeClient`: tokens in three lines.
 *
 *     const client = new AINativeClient('http://127.0.0.1:8000');
 *     for await (const token of client.streamText('Hello')) output.append(token);
 */

const { responseError } = __errors;
const { EventBus } = __events;
const { StreamingEngine } = __engine;
const { endpoints } = __urls;

const REQUEST_KEYS = new Set(['action', 'provider', 'model', 'context', 'signal', 'params']);

class AINativeClient {
  /**
   * `url`: the server's base URL (default: the page's origin) or its stream endpoint.
   * `options`: `transport` (`'SSE'`, `'WS'`, `'AUTO'`), `provider`, `model`, `apiKey` (sent
   * as `Authorization: Bearer`, traded for a single-use `?ticket=` on a WebSocket), `headers`,
   * `reconnect`, `reconnectDelay`, `maxReconnectAttempts` (milliseconds), and `fetch` /
   * `WebSocket` to replace the global ones.
   */
  constructor(url, options = {}) {
    this.urls = endpoints(url);
    this.url = this.urls.stream;
    const { transport = 'SSE', provider, model, apiKey, headers = {}, fetch, WebSocket, ...rest } = options;
    this.transport = transport;
    this.provider = provider;
    this.model = model;
    this.headers = { ...headers };
    if (apiKey) this.headers.Authorization = `Bearer ${apiKey}`;
    this.streamOptions = rest;
    this.engineOptions = { fetch, WebSocket };
    this.fetch = fetch ?? ((...args) => globalThis.fetch(...args));
  }

  /**
   * The text tokens of a reply, as they arrive: `for await (const token of
   * client.streamText('Hello', {signal}))`. `options`: `action` (default `'chat'`),
   * `provider`, `model`, `context`, `signal` (an `AbortSignal`: aborting stops the stream on
   * the server and throws its reason here); any other key is a provider option
   * (`max_tokens`, `temperature`, echo's `tokens` and `delay`...). An error from the server
   * is thrown as a `ServerError`; leaving the loop early stops the stream on the server.
   */
  async *streamText(prompt, options = {}) {
    const { signal } = options;
    for await (const item of this.streamEvents(this.request(prompt, options), { signal })) {
      if (item.event.type === 'token') yield item.event.data;
    }
  }

  /** The whole reply as one string (see `streamText`). */
  async completeText(prompt, options = {}) {
    let text = '';
    for await (const token of this.streamText(prompt, options)) text += token;
    return text;
  }

  /**
   * Every event of a stream of `request` (an action request object), `done` included:
   * `{event, id, streamId}`. Thrown as in `streamText`.
   */
  async *streamEvents(request, { signal } = {}) {
    const engine = new StreamingEngine(new EventBus(), this.engineOptions);
    const config = {
      ...this.streamOptions,
      url: this.url,
      method: this.transport,
      headers: this.headers,
      signal,
    };
    yield* engine.stream(config, request);
    const result = engine.lastResult;
    if (signal?.aborted) throw signal.reason;
    if (result?.error) throw result.error;
  }

  /** The action request `streamText` sends for `prompt`. */
  request(prompt, options = {}) {
    const extra = {};
    for (const [key, value] of Object.entries(options)) {
      if (!REQUEST_KEYS.has(key) && value !== undefined) extra[key] = value;
    }
    const request = {
      action: options.action ?? 'chat',
      params: { ...(options.params ?? {}), message: prompt },
      context: options.context ?? {},
      options: extra,
    };
    const provider = options.provider ?? this.provider;
    const model = options.model ?? this.model;
    if (provider) request.provider = provider;
    if (model) request.model = model;
    return request;
  }

  /** The server's providers: `{default, model, providers: [{name, aliases, models}]}`. */
  async providers() {
    const response = await this.fetch(this.urls.providers, { headers: { ...this.headers } });
    if (!response.ok) throw await responseError(response);
    return response.json();
  }
}
return { AINativeClient };
})();

// -- index.js ----------------------------------------------------------------------------

const { AIApp, createAIApp } = __app;
const { AINativeClient } = __client;
const { StreamingEngine } = __engine;
const { AINativeError, ConnectionError, InvalidRequestError, ProtocolError, ServerError, StreamInterrupted, StreamingError } = __errors;
const { EventBus } = __events;
const { SSEDecoder } = __sse;
const { withToolResults } = __tools;
/**
 * ainative's browser and Node client: `StreamingEngine` and `EventBus` with the seed's
 * names and payloads, `AINativeClient` for tokens as an async iterator, and `AIApp` for
 * a chat's state (tool calls included; `withToolResults` answers the client's own tools
 * for the engine). Streams over SSE (fetch) or WebSocket, resume after a dropped
 * connection with nothing lost or repeated, and stop on the server when stopped here.
 */


const VERSION = '0.1.0';

export {
  AIApp,
  AINativeClient,
  AINativeError,
  ConnectionError,
  EventBus,
  InvalidRequestError,
  ProtocolError,
  SSEDecoder,
  ServerError,
  StreamInterrupted,
  StreamingEngine,
  StreamingError,
  VERSION,
  createAIApp,
  withToolResults,
};
