/**
 * Answering the client's tools: the request that continues a stream ended by tool calls.
 */

import { InvalidRequestError } from './errors.js';

const own = (object, key) => object != null && Object.prototype.hasOwnProperty.call(object, key);

/**
 * The wire `tool` message answering `call` (`{id, name}`): `outputs[id]` (text as is,
 * anything else as JSON) or `errors[id]` (with `is_error`, read by the model as the call's
 * error). A call with neither is an `InvalidRequestError`.
 */
export function toolAnswer(call, outputs = {}, errors = {}) {
  const id = String(call?.id);
  const answer = { role: 'tool', tool_call_id: id };
  if (call?.name) answer.name = String(call.name);
  if (own(outputs, id)) {
    const value = outputs[id];
    answer.content = typeof value === 'string' ? value : JSON.stringify(value);
  } else if (own(errors, id)) {
    answer.content = String(errors[id]);
    answer.is_error = true;
  } else {
    throw new InvalidRequestError(
      `no output for tool call ${JSON.stringify(id)} (${call?.name}): give it in outputs or errors`,
    );
  }
  return answer;
}

/**
 * The request that continues `request`'s conversation once the client ran the tools its
 * stream ended with (`result.finishReason === 'tool_call'`; `result` is what
 * `StreamingEngine.start` resolved with).
 *
 * Its `context.messages` are `request`'s, then its `params.message` as the user's turn,
 * then what the stream added (`result.messages`), then one tool message per call of
 * `result.toolCalls`: `outputs[id]` or `errors[id]` (see `toolAnswer`). It has no
 * `params.message`: the server continues the conversation as it stands. A call with
 * neither output nor error throws an `InvalidRequestError`.
 */
export function withToolResults(request, result, outputs, { errors = {} } = {}) {
  const context = request?.context ?? {};
  const messages = [...(Array.isArray(context.messages) ? context.messages : [])];
  const params = { ...(request?.params ?? {}) };
  let message = params.message;
  delete params.message;
  if (!message) {
    message = params.prompt;
    delete params.prompt;
  }
  if (typeof message === 'string') messages.push({ role: 'user', content: message });
  messages.push(...(result?.messages ?? []));
  for (const call of result?.toolCalls ?? []) messages.push(toolAnswer(call, outputs, errors));
  return { ...request, params, context: { ...context, messages } };
}
