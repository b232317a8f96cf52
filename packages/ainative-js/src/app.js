/**
 * `AIApp`: a chat application's state driven by the server, for pages without a framework.
 *
 * State: `{messages, context, streaming, error, metadata}` plus the keys of
 * `initialState`; a new object on every change (listeners can compare by identity).
 */

import { ConnectionError, StreamingError, responseError } from './errors.js';
import { EventBus } from './events.js';
import { StreamingEngine } from './engine.js';
import { endpoints } from './urls.js';

let counter = 0;

function messageId() {
  counter += 1;
  return `m${Date.now().toString(36)}${counter}`;
}

export class AIApp {
  /**
   * `config`: `apiUrl` (default: the page's origin), `streamMethod` (`'SSE'`, `'WS'`,
   * `'AUTO'`), `initialState`, `reconnect`, `debug` (logs every bus event), and beyond the
   * seed: `apiKey`, `headers`, `provider`, `model`, `options` (provider options sent with
   * every request), `reconnectDelay`, `maxReconnectAttempts`, `fetch`, `WebSocket`.
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
   * conversation so far goes along as `context.messages`). Resolves with the state once
   * the reply has ended; errors end up in `state.error` and on the bus.
   */
  async sendMessage(content, options = {}) {
    if (options.stream !== false) this.#checkIdle();
    const history = this.state.messages.map(({ role, content: text }) => ({ role, content: text }));
    this.#set({ messages: [...this.state.messages, this.#message('user', content)] });
    return this.action('chat', { message: content }, { stream: true, ...options, history });
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
    const reply = this.#message('assistant', '');
    this.#set({ messages: [...this.state.messages, reply], streaming: true, error: null });
    let text = '';
    const bus = this.eventBus;
    const stops = [
      bus.on('stream-data', ({ payload }) => {
        if (payload.type === 'token') {
          text += payload.token;
          this.#update(reply.id, { content: text });
        } else if (payload.type === 'metadata') {
          this.#set({ metadata: { ...this.state.metadata, ...payload.metadata } });
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
    } finally {
      for (const stop of stops) stop();
      this.#set({ streaming: false });
    }
    return this.state;
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
      const added = (body.messages ?? []).map((m) => this.#message(m.role, m.content));
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

  #message(role, content) {
    return { id: messageId(), role, content, timestamp: Date.now() };
  }

  #update(id, changes) {
    const messages = this.state.messages.map((m) =>
      m.id === id ? { ...m, ...changes, metadata: { ...(m.metadata ?? {}), ...(changes.metadata ?? {}) } } : m,
    );
    this.#set({ messages });
  }

  #set(changes) {
    this.state = { ...this.state, ...changes };
    this.eventBus.emit('state-change', { state: this.state });
    for (const listener of [...this.listeners]) listener(this.state);
  }
}

/** The seed's factory: `createAIApp(config)` is `new AIApp(config)`. */
export function createAIApp(config) {
  return new AIApp(config);
}
