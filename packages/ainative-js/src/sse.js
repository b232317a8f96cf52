/**
 * The SSE transport over `fetch`: `POST {root}/stream` starts a stream, `GET
 * {root}/stream/{id}` with `Last-Event-ID` resumes it, `DELETE` cancels it.
 *
 * `fetch` rather than `EventSource`: a POST body, headers such as the bearer key, and
 * errors read from the response.
 */

import { ConnectionError, ProtocolError, StreamInterrupted, responseError } from './errors.js';

const STREAM_ID_HEADER = 'x-ainative-stream-id';
const DONE = '[DONE]';

/** A spec-correct Server-Sent Events decoder: `feed(text)` returns the completed events. */
export class SSEDecoder {
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

export class SSETransport {
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
