// Drives an ainative server with the AI SDK's own WebSocketChatTransport and prints JSON.
//
// Input (argv[2], JSON): {url, scenario: "send" | "concurrent" | "cut" | "abort", chats:
// [{chatId, text}], body?, at?}. "send" and "concurrent" send every chat at once on one
// transport (one socket); "cut" terminates the socket after `at` chunks of the first chat,
// then calls reconnectToStream on a new socket; "abort" aborts the first chat's request
// after `at` chunks, then asks reconnectToStream for the chat on the same socket (which the
// server answers after it has handled the abort: frames are handled in order). Replies are
// assembled by readUIMessageStream; every frame each socket received is recorded.
import { WebSocketChatTransport, readUIMessageStream } from 'ai';
import WebSocket from 'ws';

const input = JSON.parse(process.argv[2]);
const sockets = [];

class RecordingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    const frames = [];
    sockets.push({ socket: this, frames });
    this.addEventListener('message', event => frames.push(JSON.parse(String(event.data))));
  }
}

function user(chat) {
  return { id: `u-${chat.chatId}`, role: 'user', parts: [{ type: 'text', text: chat.text }] };
}

async function read(stream, onChunk) {
  const chunks = [];
  let message = null;
  let error = null;
  const [forReader, forList] = stream.tee();
  const listing = (async () => {
    for await (const chunk of forList) {
      chunks.push(chunk);
      onChunk?.(chunks.length);
    }
  })();
  try {
    for await (const snapshot of readUIMessageStream({ stream: forReader })) message = snapshot;
  } catch (err) {
    error = String(err?.message ?? err);
  }
  try {
    await listing;
  } catch (err) {
    error ??= String(err?.message ?? err);
  }
  return { message, chunks, error };
}

const transport = new WebSocketChatTransport({
  url: input.url,
  webSocket: RecordingWebSocket,
  body: input.body ?? {},
});

function send(chat, abortSignal) {
  return transport.sendMessages({
    chatId: chat.chatId,
    messages: [user(chat)],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal,
  });
}

const results = [];
let resumed = null;
let thrown = null;
try {
  if (input.scenario === 'send' || input.scenario === 'concurrent') {
    const streams = await Promise.all(input.chats.map(chat => send(chat)));
    results.push(...(await Promise.all(streams.map(stream => read(stream)))));
  } else if (input.scenario === 'cut') {
    const chat = input.chats[0];
    const stream = await send(chat);
    results.push(
      await read(stream, count => {
        if (count === input.at) sockets.at(-1).socket.terminate(); // the connection drops
      }),
    );
    const again = await transport.reconnectToStream({ chatId: chat.chatId });
    resumed = again === null ? null : await read(again);
  } else if (input.scenario === 'abort') {
    const chat = input.chats[0];
    const controller = new AbortController();
    const stream = await send(chat, controller.signal);
    results.push(
      await read(stream, count => {
        if (count === input.at) controller.abort(); // stop(): the transport sends `abort`
      }),
    );
    const again = await transport.reconnectToStream({ chatId: chat.chatId });
    resumed = again === null ? null : await read(again);
  }
} catch (err) {
  thrown = String(err?.message ?? err);
}
transport.close();
console.log(
  JSON.stringify({ results, resumed, thrown, sockets: sockets.map(s => s.frames) }),
);
