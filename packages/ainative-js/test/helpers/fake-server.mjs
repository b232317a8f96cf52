// A small fake of an ainative server for the client's unit tests: the SSE routes and the
// WebSocket route (a minimal RFC 6455 server on node:http), streams whose events are
// produced on a timer, resume from an event id, cancel, refusals, and cuts on demand.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One stream: its log of events (wire JSON objects) and the followers reading it. */
class Stream {
  constructor(id, tokens, { delay = 0, error, script } = {}) {
    this.id = id;
    this.events = [{ type: 'metadata', data: { stream_id: id, provider: 'fake', model: 'fake' } }];
    this.followers = new Set();
    this.finished = false;
    this.cancelled = false;
    if (script) {
      this.pending = [...script];
      if (this.pending.at(-1)?.type !== 'done') this.pending.push({ type: 'done', data: { finish_reason: 'stop' } });
    } else {
      this.pending = [...tokens.map((token) => ({ type: 'token', data: token }))];
      if (error) this.pending.push({ type: 'error', data: error.message, code: error.code, retryable: false });
      this.pending.push({ type: 'done', data: { finish_reason: error ? 'error' : 'stop', usage: { output_tokens: tokens.length } } });
    }
    this.delay = delay;
    this.timer = null;
  }

  start() {
    const step = () => {
      if (this.finished) return;
      this.append(this.pending.shift());
      if (!this.finished) this.timer = setTimeout(step, this.delay);
    };
    step();
  }

  append(event) {
    this.events.push(event);
    if (event.type === 'done') this.finished = true;
    const id = this.events.length;
    for (const follower of [...this.followers]) follower(event, id);
  }

  cancel() {
    if (this.finished) return false;
    clearTimeout(this.timer);
    this.cancelled = true;
    this.append({ type: 'done', data: { finish_reason: 'cancelled' } });
    return true;
  }

  /** Call `write(event, id)` for each event after `after`, now and as they come. */
  follow(after, write) {
    this.events.slice(after).forEach((event, index) => write(event, after + index + 1));
    if (this.finished) return () => {};
    this.followers.add(write);
    return () => this.followers.delete(write);
  }
}

function sseFrame(event, id) {
  return `id: ${id}\ndata: ${JSON.stringify(event)}\n\n`;
}

function wsFrame(opcode, payload) {
  const body = Buffer.from(payload);
  let header;
  if (body.length < 126) header = Buffer.from([0x80 | opcode, body.length]);
  else if (body.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(body.length), 2);
  }
  return Buffer.concat([header, body]);
}

/** Reads client frames (masked) from a socket: `onText(text)`, `onClose()`. */
function readFrames(socket, onText, onClose) {
  let buffer = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 2) {
      const opcode = buffer[0] & 0x0f;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (buffer[1] & 0x80) !== 0;
      const total = offset + (masked ? 4 : 0) + length;
      if (buffer.length < total) return;
      const mask = masked ? buffer.subarray(offset, offset + 4) : null;
      const payload = Buffer.from(buffer.subarray(total - length, total));
      if (mask) for (let i = 0; i < payload.length; i += 1) payload[i] ^= mask[i % 4];
      buffer = buffer.subarray(total);
      if (opcode === 1) onText(payload.toString('utf8'));
      else if (opcode === 8) {
        onClose();
        socket.end(wsFrame(8, payload.subarray(0, 2)));
        return;
      } else if (opcode === 9) socket.write(wsFrame(10, payload));
    }
  });
  socket.on('close', onClose);
  socket.on('error', () => {});
}

/**
 * `await fakeServer(options)`: `{url, streams, log, cancels, cut(), close()}`.
 *
 * Options: `tokens(request)` (default: the message split into words), `delay` (ms between
 * events), `cutAfter` (events a connection carries before the server drops it; applies
 * to every connection), `refuse(request)` returning `{status, error}` to refuse a start,
 * `noSSE` / `noWS` (the route answers a plain 404), `apiKey`, `error` (an error event
 * `{message, code}` before done), `script(request)` returning the wire events (`{type,
 * data}`: tool calls and results, tokens, a `done` with `messages` and `tool_calls`) to
 * send after the metadata instead of the tokens (a plain `done` is added when the list
 * does not end with one).
 */
export async function fakeServer(options = {}) {
  const streams = new Map();
  const log = [];
  const cancels = [];
  const sockets = new Set();
  let counter = 0;
  const tokensOf =
    options.tokens ??
    ((request) => String(request?.params?.message ?? '').split(/(?= )/).filter(Boolean));

  const newStream = (request) => {
    counter += 1;
    const script = options.script?.(request);
    const stream = new Stream(`s_${counter}`, script ? [] : tokensOf(request), {
      delay: options.delay ?? 0,
      error: options.error,
      script,
    });
    streams.set(stream.id, stream);
    stream.start();
    return stream;
  };

  const tickets = new Set();
  const authorized = (header, ticket) => {
    if (!options.apiKey) return true;
    if (ticket && tickets.delete(ticket)) return true;
    return header === `Bearer ${options.apiKey}`;
  };

  const json = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const followSSE = (res, stream, after) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-ainative-stream-id': stream.id,
    });
    res.write('retry: 1000\n');
    let sent = 0;
    const stop = stream.follow(after, (event, id) => {
      if (options.cutAfter !== undefined && sent >= options.cutAfter) {
        res.socket?.end(); // what was written still arrives, then the connection is gone
        return;
      }
      sent += 1;
      res.write(sseFrame(event, id));
      if (event.type === 'done') res.end('data: [DONE]\n\n');
    });
    res.on('close', stop);
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let body = '';
    for await (const chunk of req) body += chunk;
    const entry = { method: req.method, path: url.pathname, headers: req.headers, body: body ? JSON.parse(body) : undefined };
    log.push(entry);
    if (!authorized(req.headers.authorization)) {
      json(res, 401, { error: { code: 'unauthorized', message: 'missing or invalid bearer token', retryable: false } });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/ai/ws-ticket') {
      const ticket = `t${tickets.size + 1}_${Date.now()}`;
      tickets.add(ticket);
      json(res, 200, { ticket, expires_in: 30 });
      return;
    }
    const match = /^\/ai\/stream(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match || options.noSSE) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"detail":"Not Found"}');
      return;
    }
    const id = match[1] && decodeURIComponent(match[1]);
    if (req.method === 'POST' && !id) {
      const refusal = options.refuse?.(entry.body);
      if (refusal) {
        const headers = refusal.retryAfter ? { 'retry-after': String(refusal.retryAfter) } : {};
        json(res, refusal.status, { error: refusal.error }, headers);
        return;
      }
      followSSE(res, newStream(entry.body), 0);
    } else if (req.method === 'GET' && id) {
      const stream = streams.get(id);
      if (!stream) {
        json(res, 404, { error: { code: 'stream_not_found', message: `unknown stream ${id}`, retryable: false } });
        return;
      }
      followSSE(res, stream, Number(req.headers['last-event-id'] ?? 0));
    } else if (req.method === 'DELETE' && id) {
      const stream = streams.get(id);
      cancels.push(id);
      if (!stream) {
        json(res, 404, { error: { code: 'stream_not_found', message: `unknown stream ${id}`, retryable: false } });
        return;
      }
      json(res, 200, { stream_id: id, cancelled: stream.cancel() });
    } else {
      json(res, 405, { detail: 'Method Not Allowed' });
    }
  });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    log.push({ method: 'WS', path: url.pathname, headers: req.headers, query: url.searchParams.toString() });
    if (url.pathname !== '/ai/ws' || options.noWS) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (!authorized(req.headers.authorization, url.searchParams.get('ticket'))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + WS_GUID).digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const stops = [];
    let sent = 0;
    const send = (event, id, stream) => {
      if (options.cutAfter !== undefined && sent >= options.cutAfter) {
        socket.end(); // what was written still arrives, then the connection is gone
        return;
      }
      sent += 1;
      socket.write(wsFrame(1, JSON.stringify({ ...event, id, stream_id: stream.id })));
    };
    const refuse = (status, error) => {
      const { message, ...fields } = error;
      socket.write(wsFrame(1, JSON.stringify({ type: 'error', data: message, ...fields, status })));
      socket.write(wsFrame(1, JSON.stringify({ type: 'done', data: { finish_reason: 'error' } })));
    };
    readFrames(
      socket,
      (text) => {
        const frame = JSON.parse(text);
        log.push({ method: 'WS-FRAME', path: url.pathname, body: frame });
        if (frame.type === 'cancel') {
          cancels.push(frame.stream_id);
          streams.get(frame.stream_id)?.cancel();
        } else if (frame.type === 'resume') {
          const stream = streams.get(frame.stream_id);
          if (!stream) {
            refuse(404, { code: 'stream_not_found', message: `unknown stream ${frame.stream_id}`, retryable: false });
            return;
          }
          stops.push(stream.follow(frame.last_event_id, (event, id) => send(event, id, stream)));
        } else {
          const refusal = options.refuse?.(frame);
          if (refusal) {
            refuse(refusal.status, refusal.error);
            return;
          }
          const stream = newStream(frame);
          stops.push(stream.follow(0, (event, id) => send(event, id, stream)));
        }
      },
      () => {
        for (const stop of stops) stop();
      },
    );
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    streams,
    log,
    cancels,
    /** Close every open connection now (a network drop). */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close() {
      for (const stream of streams.values()) clearTimeout(stream.timer);
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
