// A minimal chat page: useChat from @ai-sdk/react against an ainative server.
//
// The server's origin comes from ?api=..., the chat id from ?chat=... (so that a reload
// resumes the same chat: useChat({resume: true}) asks GET {api}/{chat}/stream).
import React, { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';

const query = new URLSearchParams(window.location.search);
const api = query.get('api') + '/ai/ui/chat';
const chatId = query.get('chat');

function Chat() {
  const [transport] = useState(
    () =>
      new DefaultChatTransport({
        api,
        headers: { 'X-AINative-Resumable': '1' }, // a reload resumes: keep the run meanwhile
        body: { options: { tokens: 60, delay: 0.05 } },
      }),
  );
  const { messages, sendMessage, status, stop } = useChat({ id: chatId, transport, resume: true });
  const reply = messages.filter(m => m.role === 'assistant').at(-1);
  const text = reply ? reply.parts.filter(p => p.type === 'text').map(p => p.text).join('') : '';
  return (
    <main>
      <button id="send" onClick={() => sendMessage({ text: 'Count for me' })}>Send</button>
      <button
        id="stop"
        onClick={() => {
          stop();
          fetch(`${api}/${chatId}/stream`, { method: 'DELETE' });
        }}
      >
        Stop
      </button>
      <p id="status">{status}</p>
      <p id="message-id">{reply ? reply.id : ''}</p>
      <p id="reply">{text}</p>
    </main>
  );
}

createRoot(document.getElementById('root')).render(<Chat />);
