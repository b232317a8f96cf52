/**
 * ainative's browser and Node client: `StreamingEngine` and `EventBus` with the seed's
 * names and payloads, `AINativeClient` for tokens as an async iterator, and `AIApp` for
 * a chat's state (tool calls included; `withToolResults` answers the client's own tools
 * for the engine). Streams over SSE (fetch) or WebSocket, resume after a dropped
 * connection with nothing lost or repeated, and stop on the server when stopped here.
 */

export { AIApp, createAIApp } from './app.js';
export { AINativeClient } from './client.js';
export { StreamingEngine } from './engine.js';
export {
  AINativeError,
  ConnectionError,
  InvalidRequestError,
  ProtocolError,
  ServerError,
  StreamInterrupted,
  StreamingError,
} from './errors.js';
export { EventBus } from './events.js';
export { SSEDecoder } from './sse.js';
export { withToolResults } from './tools.js';

export const VERSION = '0.1.0';
