// Wire events of tool loops, as an ainative server sends them, for the fake server's `script`.

/** The events of one streamed tool call (`start`, argument deltas, `end`). */
export function toolCall(id, name, args, { index = 0, server = false } = {}) {
  const text = JSON.stringify(args);
  const half = Math.ceil(text.length / 2);
  const extra = server ? { server: true } : {};
  return [
    { type: 'tool_call', data: { phase: 'start', id, index, name, ...extra } },
    { type: 'tool_call', data: { phase: 'delta', id, index, args_delta: text.slice(0, half), ...extra } },
    { type: 'tool_call', data: { phase: 'delta', id, index, args_delta: text.slice(half), ...extra } },
    { type: 'tool_call', data: { phase: 'end', id, index, name, arguments: text, ...extra } },
  ];
}

/** A server tool loop: text, a `calculate` call the server runs, its result, the answer. */
export function serverLoop() {
  const call = { id: 'call_1', name: 'calculate', arguments: '{"expression":"6*7"}' };
  return [
    { type: 'token', data: 'Let me' },
    { type: 'token', data: ' compute.' },
    ...toolCall('call_1', 'calculate', { expression: '6*7' }, { server: true }),
    {
      type: 'tool_result',
      data: { id: 'call_1', name: 'calculate', arguments: { expression: '6*7' }, result: 42, duration_ms: 0.5 },
    },
    { type: 'token', data: 'It is' },
    { type: 'token', data: ' 42.' },
    {
      type: 'done',
      data: {
        finish_reason: 'stop',
        messages: [
          { role: 'assistant', content: 'Let me compute.', tool_calls: [call], provider_metadata: { fake: { signature: 'sig' } } },
          { role: 'tool', tool_call_id: 'call_1', name: 'calculate', content: '42' },
        ],
      },
    },
  ];
}

/**
 * Two calls to the client's `lookup` tool when the conversation does not end with tool
 * results; their contents joined by newlines when it does (as echo answers).
 */
export function clientTools(request) {
  const messages = request?.context?.messages ?? [];
  const results = [];
  for (let i = messages.length - 1; i >= 0 && messages[i].role === 'tool'; i -= 1) results.unshift(messages[i]);
  if (results.length) return [{ type: 'token', data: results.map((m) => m.content).join('\n') }];
  const calls = [
    { id: 'call_a', name: 'lookup', arguments: '{"q":"a"}' },
    { id: 'call_b', name: 'lookup', arguments: '{"q":"b"}' },
  ];
  return [
    ...toolCall('call_a', 'lookup', { q: 'a' }, { index: 0 }),
    ...toolCall('call_b', 'lookup', { q: 'b' }, { index: 1 }),
    {
      type: 'done',
      data: { finish_reason: 'tool_call', messages: [{ role: 'assistant', tool_calls: calls }], tool_calls: calls },
    },
  ];
}

export const LOOKUP = { name: 'lookup', description: 'Look a word up.', parameters: { type: 'object', properties: { q: { type: 'string' } } } };
