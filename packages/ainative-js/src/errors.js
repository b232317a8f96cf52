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

export class AINativeError extends Error {
  constructor(message, code = 'ainative_error', { retryable = false, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AINativeError';
    this.code = code;
    this.retryable = retryable;
  }
}

export class StreamingError extends AINativeError {
  constructor(message) {
    super(message, 'streaming_error');
    this.name = 'StreamingError';
  }
}

export class InvalidRequestError extends AINativeError {
  constructor(message) {
    super(message, 'invalid_request');
    this.name = 'InvalidRequestError';
  }
}

export class ConnectionError extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'connect_error', { retryable: true, ...options });
    this.name = 'ConnectionError';
  }
}

export class StreamInterrupted extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'stream_interrupted', { retryable: true, ...options });
    this.name = 'StreamInterrupted';
  }
}

export class ProtocolError extends AINativeError {
  constructor(message, options = {}) {
    super(message, 'protocol_error', options);
    this.name = 'ProtocolError';
  }
}

export class ServerError extends AINativeError {
  constructor(message, { code = 'http_error', retryable = false, status, retryAfter, id } = {}) {
    super(message, code, { retryable });
    this.name = 'ServerError';
    this.status = status;
    this.retryAfter = retryAfter;
    this.id = id;
  }
}

/** The error of a refusal from its fields: an HTTP error body's `error` object, or a WS error frame. */
export function refusalError(status, fields, retryAfterHeader) {
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
export async function responseError(response) {
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
