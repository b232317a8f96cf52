/**
 * `AIApp`: a chat application's state driven by the server, for pages without a framework.
 *
 * State: `{messages, context, streaming, error, metadata}` plus the keys of
 * `initialState`; a new object on every change (listeners can compare by identity).
 * Messages: `{id, role, content, timestamp, metadata?}`; assistant messages may hold
 * `toolCalls` (`{id, name, arguments}`, arguments as JSON text) and `providerMetadata`,
 * tool messages `toolCallId`, `name` and `isError`.
 */

import { ConnectionError, InvalidRequestError, StreamingError, responseError } from './errors.js';
import { EventBus } from './events.js';
import { StreamingEngine } from './engine.js';
import { toolAnswer } from './tools.js';
import { endpoints } from './urls.js';

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

export class AIApp {
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
export function createAIApp(config) {
  return new AIApp(config);
}
