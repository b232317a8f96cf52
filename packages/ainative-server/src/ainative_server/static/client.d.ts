// Types of ainative's JavaScript client.

export declare const VERSION: string;

// -- errors --------------------------------------------------------------------------------

export declare class AINativeError extends Error {
  constructor(message: string, code?: string, options?: { retryable?: boolean; cause?: unknown });
  code: string;
  retryable: boolean;
}
/** Misuse: a stream is already active. */
export declare class StreamingError extends AINativeError {
  constructor(message: string);
}
/** A request this client cannot send: a tool call without an output or error. */
export declare class InvalidRequestError extends AINativeError {
  constructor(message: string);
}
/** Could not connect (network down, route not served). */
export declare class ConnectionError extends AINativeError {
  constructor(message: string, options?: { cause?: unknown });
}
/** The connection dropped before the stream's done event (and reconnecting gave up). */
export declare class StreamInterrupted extends AINativeError {
  constructor(message: string, options?: { cause?: unknown });
}
/** The server sent something undecodable. */
export declare class ProtocolError extends AINativeError {
  constructor(message: string, options?: { cause?: unknown });
}
/** The server's own error: a refused request (`status`) or an error event of the stream (`id`). */
export declare class ServerError extends AINativeError {
  constructor(
    message: string,
    options?: { code?: string; retryable?: boolean; status?: number; retryAfter?: number; id?: number },
  );
  status?: number;
  /** Seconds to wait before trying again (rate limits). */
  retryAfter?: number;
  /** The event id of an error event in the stream. */
  id?: number;
}

// -- events --------------------------------------------------------------------------------

export type EventType =
  | 'action'
  | 'tool'
  | 'stream-start'
  | 'stream-data'
  | 'stream-reconnect'
  | 'stream-end'
  | 'stream-error'
  | 'state-change'
  | 'error';

export interface AIEvent<T = any> {
  type: EventType | string;
  payload: T;
  timestamp: number;
  id: string;
}

export type EventListener<T = any> = (event: AIEvent<T>) => void;

export interface StreamStartPayload {
  url: string;
  method: StreamMethod | string;
  action: string;
  config: StreamConfig;
  data: ActionRequest;
}

/** `type` is the wire type; the key named after it holds its data. */
export interface StreamDataPayload {
  type: string;
  id?: number;
  token?: string;
  metadata?: { stream_id?: string; provider?: string; model?: string | null; [key: string]: any };
  reasoning?: string;
  tool_call?: ToolCallEventData;
  tool_result?: ToolResultEventData;
  usage?: Record<string, any>;
  [key: string]: any;
}

export interface StreamReconnectPayload {
  attempt: number;
  /** Milliseconds before the attempt. */
  delay: number;
  error: string;
  lastEventId?: number;
}

export interface StreamErrorPayload {
  error: string;
  code?: string;
  retryable: boolean;
  /** The event id, for an error event of the stream. */
  id?: number;
  /** The HTTP status, for a refused request. */
  status?: number;
}

export type EndReason = 'complete' | 'aborted' | 'error';

export interface StreamEndPayload {
  reason: EndReason;
  finishReason?: string;
  streamId?: string;
  usage?: Record<string, any>;
  /** The calls to the client's own tools the stream ended by (`finishReason` `'tool_call'`). */
  toolCalls: ToolCall[];
}

export interface EventPayloads {
  'stream-start': StreamStartPayload;
  'stream-data': StreamDataPayload;
  'stream-reconnect': StreamReconnectPayload;
  'stream-error': StreamErrorPayload;
  'stream-end': StreamEndPayload;
  tool: { type: string; data: any; id?: number };
  action: { action: string; params: Record<string, any> };
  'state-change': { state: AIState };
  error: { error: unknown };
}

export declare class EventBus {
  emit<K extends keyof EventPayloads>(type: K, payload: EventPayloads[K]): AIEvent<EventPayloads[K]>;
  emit<T = any>(type: string, payload: T): AIEvent<T>;
  on<K extends keyof EventPayloads>(type: K, listener: EventListener<EventPayloads[K]>): () => void;
  on<T = any>(type: string, listener: EventListener<T>): () => void;
  off(type: string, listener: EventListener<any>): void;
  once<K extends keyof EventPayloads>(type: K, listener: EventListener<EventPayloads[K]>): () => void;
  once<T = any>(type: string, listener: EventListener<T>): () => void;
  onAll(listener: EventListener<any>): () => void;
  clear(type?: string): void;
  getHistory(): ReadonlyArray<AIEvent>;
  readonly history: ReadonlyArray<AIEvent>;
  subscribe(...types: string[]): AsyncIterableIterator<AIEvent>;
}

// -- streaming -----------------------------------------------------------------------------

export type StreamMethod = 'SSE' | 'WS' | 'AUTO';

export interface StreamConfig {
  /** The server's base URL or its stream endpoint (`http://h:8000/ai/stream`). */
  url: string;
  method?: StreamMethod;
  headers?: Record<string, string>;
  /** Resume after a dropped connection (default true). */
  reconnect?: boolean;
  /** Milliseconds before the first reconnect, doubled each attempt, with jitter (1000). */
  reconnectDelay?: number;
  /** Attempts in a row that received nothing before giving up (5). */
  maxReconnectAttempts?: number;
  /** Cap of the backoff in milliseconds (30000). */
  maxReconnectDelay?: number;
  /** Transports AUTO tries, in order (`['SSE', 'WS']`). */
  autoOrder?: Array<'SSE' | 'WS'>;
  /** Milliseconds `stop()` waits for the server's cancel (5000). */
  cancelTimeout?: number;
  /** Aborting it stops the stream, on the server too. */
  signal?: AbortSignal;
}

export interface ActionRequest {
  action?: string;
  params?: Record<string, any>;
  context?: Record<string, any>;
  provider?: string | null;
  model?: string | null;
  /** Provider options; the client's own tools go here as `tools: ToolSpec[]`. */
  options?: Record<string, any>;
  /** The server tools the model may call: `true` (all) or their names (absent: the server's default). */
  tools?: boolean | string[] | null;
  [key: string]: any;
}

// -- tools ---------------------------------------------------------------------------------

/** A tool call the model asked for; `arguments` is the JSON text it produced. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A client tool offered to the model (in `options.tools`): `parameters` is a JSON schema. */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, any>;
}

/** A message as the wire carries it (`context.messages`, `done.messages`). */
export interface WireMessage {
  role: 'user' | 'assistant' | 'system' | 'tool';
  content?: string;
  name?: string;
  tool_call_id?: string;
  tool_calls?: ToolCall[];
  is_error?: boolean;
  provider_metadata?: Record<string, any>;
}

/** `tool_call` event data: `start` has `name`, `delta` `args_delta`, `end` `name` and `arguments`. */
export interface ToolCallEventData {
  phase: 'start' | 'delta' | 'end';
  id: string;
  index: number;
  name?: string;
  args_delta?: string;
  arguments?: string;
  /** The server runs this call (a server tool). */
  server?: boolean;
}

/** `tool_result` event data: a server tool call that finished, with `result` or `error`. */
export interface ToolResultEventData {
  id: string;
  name: string;
  arguments: Record<string, any>;
  result?: any;
  error?: string;
  duration_ms?: number;
}

/** Answers by tool call id: text as is, anything else sent as JSON. */
export type ToolOutputs = Record<string, any>;

/**
 * The request that continues `request`'s conversation once the client ran the tools its
 * stream ended with: its history, its message as the user's turn, `result.messages`, one
 * tool message per call of `result.toolCalls`, and no `params.message`. Throws an
 * `InvalidRequestError` for a call with neither output nor error.
 */
export declare function withToolResults(
  request: ActionRequest,
  result: Pick<StreamResult, 'messages' | 'toolCalls'>,
  outputs: ToolOutputs,
  options?: { errors?: Record<string, string> },
): ActionRequest;

export interface WireEvent {
  type: string;
  data?: any;
  code?: string;
  retryable?: boolean;
  [key: string]: any;
}

export interface ReceivedEvent {
  event: WireEvent;
  id?: number;
  streamId?: string;
}

export interface StreamResult {
  reason: EndReason;
  /** The server's (`stop`, `length`, `cancelled`, `error`...). */
  finishReason?: string;
  error?: AINativeError;
  streamId?: string;
  transport?: 'SSE' | 'WS';
  reconnects: number;
  usage?: Record<string, any>;
  /** What the server's tool steps added to the conversation. */
  messages: WireMessage[];
  /** The calls to the client's own tools to answer (`finishReason` `'tool_call'`). */
  toolCalls: ToolCall[];
}

export interface EngineOptions {
  fetch?: typeof fetch;
  WebSocket?: any;
}

export declare class StreamingEngine {
  constructor(eventBus?: EventBus, options?: EngineOptions);
  readonly eventBus: EventBus;
  readonly streamId: string | undefined;
  lastResult: StreamResult | null;
  isActive(): boolean;
  start(config: StreamConfig | string, data: ActionRequest): Promise<StreamResult>;
  stream(config: StreamConfig | string, data?: ActionRequest): AsyncGenerator<ReceivedEvent, void, undefined>;
  stop(): Promise<void>;
  reconnect(): boolean;
}

// -- client --------------------------------------------------------------------------------

export interface ClientOptions extends EngineOptions {
  transport?: StreamMethod;
  provider?: string;
  model?: string;
  apiKey?: string;
  headers?: Record<string, string>;
  reconnect?: boolean;
  reconnectDelay?: number;
  maxReconnectAttempts?: number;
  maxReconnectDelay?: number;
  autoOrder?: Array<'SSE' | 'WS'>;
  cancelTimeout?: number;
}

export interface TextOptions {
  action?: string;
  provider?: string;
  model?: string;
  context?: Record<string, any>;
  params?: Record<string, any>;
  signal?: AbortSignal;
  /** Any other key is a provider option (`max_tokens`, `temperature`, ...). */
  [option: string]: any;
}

export interface ProviderInfo {
  name: string;
  aliases: string[];
  models: string[];
}

export interface Providers {
  default: string;
  model: string | null;
  providers: ProviderInfo[];
}

export declare class AINativeClient {
  constructor(url?: string, options?: ClientOptions);
  readonly url: string;
  transport: StreamMethod;
  provider?: string;
  model?: string;
  headers: Record<string, string>;
  streamText(prompt: string, options?: TextOptions): AsyncGenerator<string, void, undefined>;
  completeText(prompt: string, options?: TextOptions): Promise<string>;
  streamEvents(request: ActionRequest, options?: { signal?: AbortSignal }): AsyncGenerator<ReceivedEvent, void, undefined>;
  request(prompt: string, options?: TextOptions): ActionRequest;
  providers(): Promise<Providers>;
}

// -- app -----------------------------------------------------------------------------------

export interface Message {
  id: string;
  role: 'user' | 'assistant' | 'system' | 'tool';
  content: string;
  timestamp: number;
  metadata?: Record<string, any>;
  /** On assistant messages: the tools the model called in this turn. */
  toolCalls?: ToolCall[];
  /** On tool messages: the call this answers, the tool's name, and whether it failed. */
  toolCallId?: string;
  name?: string;
  isError?: boolean;
  /** What a provider attached to an assistant turn and needs back (sent as `provider_metadata`). */
  providerMetadata?: Record<string, any>;
}

export interface AIState {
  messages: Message[];
  context: Record<string, any>;
  streaming: boolean;
  error: Error | null;
  metadata: Record<string, any>;
  [key: string]: any;
}

export interface AppConfig extends EngineOptions {
  apiUrl?: string;
  streamMethod?: StreamMethod;
  initialState?: Partial<AIState>;
  reconnect?: boolean;
  debug?: boolean;
  apiKey?: string;
  headers?: Record<string, string>;
  provider?: string;
  model?: string;
  /** Provider options sent with every request; the client's own tools as `tools: ToolSpec[]`. */
  options?: Record<string, any>;
  /** The server tools the model may call, sent with every request: `true` or their names. */
  tools?: boolean | string[];
  reconnectDelay?: number;
  maxReconnectAttempts?: number;
}

export interface ActionOptions {
  stream?: boolean;
  context?: Record<string, any>;
}

export declare class AIApp {
  constructor(config?: AppConfig);
  readonly config: AppConfig;
  readonly eventBus: EventBus;
  readonly engine: StreamingEngine;
  readonly state: Readonly<AIState>;
  getState(): Readonly<AIState>;
  onStateChange(listener: (state: AIState) => void): () => void;
  configure(changes: Partial<AppConfig>): void;
  /** The client's tools the last stream's model called: answer them with `submitToolResults`. */
  pendingToolCalls: ToolCall[];
  sendMessage(content: string, options?: ActionOptions): Promise<AIState>;
  submitToolResults(
    outputs: ToolOutputs,
    options?: ActionOptions & { errors?: Record<string, string> },
  ): Promise<AIState>;
  action(name: string, params?: Record<string, any>, options?: ActionOptions): Promise<AIState>;
  stopStreaming(): Promise<void>;
  destroy(): void;
}

export declare function createAIApp(config?: AppConfig): AIApp;

/** A spec-correct Server-Sent Events decoder. */
export declare class SSEDecoder {
  feed(text: string): Array<{ data: string; id: string }>;
}
