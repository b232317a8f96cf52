/**
 * The WebSocket transport: `{root}/ws`, one socket per stream. The request is the first
 * frame; `{"type": "resume", "stream_id", "last_event_id"}` resumes; `{"type": "cancel",
 * "stream_id"}` cancels. A browser cannot set headers on a WebSocket, so the bearer key of
 * an `Authorization` header is traded for a single-use `?ticket=` (`POST /ai/ws-ticket`).
 */

import { ConnectionError, ProtocolError, StreamInterrupted, refusalError } from './errors.js';
import { bearerToken } from './urls.js';

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

export class WSTransport {
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
