// Drives an ainative server with the AI SDK's own clients, as useChat does, and prints JSON.
//
// Input (argv[2], JSON): {api, mode: "send" | "resume" | "workflow", chatId, messages,
// body?, startIndex?, resumable?}; `resumable` sends `X-AINative-Resumable: 1` (the client
// comes back after a dropped connection, so its run survives one). The response body is read by the transport of the current `ai`
// release (its parser, schema and message assembly through readUIMessageStream) and, on a
// copy, validated against the strict chunk schemas of the last release that had them
// (`ai-strict`): a key a schema does not declare fails there.
import { DefaultChatTransport, readUIMessageStream } from 'ai';
import { WorkflowChatTransport } from '@ai-sdk/workflow/client';
import * as strict from 'ai-strict';

const input = JSON.parse(process.argv[2]);
const requests = [];
const strictErrors = [];
const strictChunks = [];
const pending = [];
let cutBodies = 0; // bodies that ended with a network error (a cut connection)

async function checkStrict(stream) {
  const parsed = strict.parseJsonEventStream({ stream, schema: strict.uiMessageChunkSchema });
  for await (const result of parsed) {
    if (result.success) strictChunks.push(result.value);
    else strictErrors.push(String(result.error.message ?? result.error).slice(0, 500));
  }
}

async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  const headers = Object.fromEntries(response.headers.entries());
  requests.push({ url: String(url), method: init?.method ?? 'GET', status: response.status, headers });
  if (!response.body) return response;
  const [forClient, forStrict] = response.body.tee();
  pending.push(checkStrict(forStrict).catch(() => { cutBodies += 1; }));
  return new Response(forClient, { status: response.status, headers: response.headers });
}

const headers = input.resumable ? { 'X-AINative-Resumable': '1' } : {};
let stream = null;
let thrown = null;
try {
if (input.mode === 'workflow') {
  const transport = new WorkflowChatTransport({
    api: input.api,
    fetch: recordingFetch,
    prepareSendMessagesRequest: ({ id, messages }) => ({ body: { id, messages }, headers }),
    prepareReconnectToStreamRequest: () => ({ headers }),
  });
  stream = input.resume
    ? await transport.reconnectToStream({ chatId: input.chatId, startIndex: input.startIndex })
    : await transport.sendMessages({
        chatId: input.chatId,
        messages: input.messages,
        trigger: 'submit-message',
        messageId: undefined,
      });
} else {
  const transport = new DefaultChatTransport({
    api: input.api,
    fetch: recordingFetch,
    body: input.body,
    headers,
  });
  stream =
    input.mode === 'resume'
      ? await transport.reconnectToStream({ chatId: input.chatId })
      : await transport.sendMessages({
          chatId: input.chatId,
          messages: input.messages,
          trigger: 'submit-message',
          messageId: undefined,
        });
}
} catch (error) {
  thrown = String(error?.message ?? error);
}

const chunks = [];
const errors = [];
let message = null;
if (stream !== null) {
  const [forReader, forList] = stream.tee();
  const listing = (async () => {
    for await (const chunk of forList) chunks.push(chunk);
  })();
  try {
    for await (const snapshot of readUIMessageStream({
      stream: forReader,
      onError: error => errors.push(String(error?.message ?? error)),
    })) {
      message = snapshot;
    }
    await listing;
  } catch (error) {
    thrown = String(error?.message ?? error);
  }
}
await Promise.all(pending);
console.log(JSON.stringify({ message, chunks, errors, thrown, requests, strictErrors, strictChunks: strictChunks.length, cutBodies }));
