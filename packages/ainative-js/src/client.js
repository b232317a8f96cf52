/**
 * `AINativeClient`: tokens in three lines.
 *
 *     const client = new AINativeClient('http://127.0.0.1:8000');
 *     for await (const token of client.streamText('Hello')) output.append(token);
 */

import { responseError } from './errors.js';
import { EventBus } from './events.js';
import { StreamingEngine } from './engine.js';
import { endpoints } from './urls.js';

const REQUEST_KEYS = new Set(['action', 'provider', 'model', 'context', 'signal', 'params']);

export class AINativeClient {
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
