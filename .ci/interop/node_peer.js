// A Node `ws` peer for the interop suite (run by peers.py).
//
//   node node_peer.js server      echo server; prints "listening PORT" when ready
//   node node_peer.js client URL  runs the client script against `wsx listen --echo`, prints
//                                 one JSON line per check and exits 0 when every one passed
//
// The server answers the same commands as peers.py's Python server: "frag" (a fragmented
// text message), "big" (1 MiB of text), "bin" (4 bytes of binary), "ping" (pings wsx and
// reports the pong), "close" (closes with 4001 "bye"); anything else is echoed as it came.
// The path /auth requires Basic user:pass; the subprotocol "chat" is chosen when offered.
// Both sides speak permessage-deflate (the server only when asked to; ws leaves it off there).
'use strict';
const { WebSocket, WebSocketServer } = require('ws');

function server() {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: true,
    handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
    verifyClient: (info) =>
      !info.req.url.startsWith('/auth') ||
      info.req.headers.authorization === 'Basic ' + Buffer.from('user:pass').toString('base64'),
  });
  wss.on('listening', () => console.log(`listening ${wss.address().port}`));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      if (text === 'frag') {
        ws.send('frag', { fin: false });
        ws.send('ment', { fin: false });
        ws.send('ed', { fin: true });
      } else if (text === 'big') {
        ws.send('b'.repeat(1 << 20));
      } else if (text === 'bin') {
        ws.send(Buffer.from([0, 255, 10, 13]), { binary: true });
      } else if (text === 'ping') {
        ws.once('pong', (payload) => ws.send(`pong ${payload}`));
        ws.ping('srv');
      } else if (text === 'close') {
        ws.close(4001, 'bye');
      } else {
        ws.send(data, { binary: isBinary });
      }
    });
  });
}

function client(url) {
  const results = [];
  const report = (name, ok, detail) => {
    results.push(ok);
    console.log(JSON.stringify({ name, ok, detail }));
  };
  const ws = new WebSocket(url);
  const inbox = [];
  let waiting = null;
  ws.on('message', (data, isBinary) => {
    inbox.push({ data, isBinary });
    if (waiting) waiting();
  });
  const next = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 10 s')), 10000);
      const take = () => {
        if (inbox.length === 0) return;
        clearTimeout(timer);
        waiting = null;
        resolve(inbox.shift());
      };
      waiting = take;
      take();
    });
  ws.on('open', async () => {
    try {
      report('permessage-deflate agreed', ws.extensions.startsWith('permessage-deflate'), ws.extensions);
      ws.send('hello node');
      let m = await next();
      report('text echo', !m.isBinary && m.data.toString() === 'hello node', m.data.toString());
      ws.send(Buffer.from([0, 255, 1]), { binary: true });
      m = await next();
      report('binary echo', m.isBinary && m.data.equals(Buffer.from([0, 255, 1])), m.data);
      const big = 'n'.repeat(1 << 20);
      ws.send(big);
      m = await next();
      report('1 MiB echo', m.data.toString() === big, m.data.length);
      ws.send('frag', { fin: false });
      ws.send('ment', { fin: false });
      ws.send('ed', { fin: true });
      m = await next();
      report('fragmented message reassembled', m.data.toString() === 'fragmented', m.data.toString());
      const pong = new Promise((resolve) => ws.once('pong', resolve));
      ws.ping('are you there');
      const payload = await Promise.race([pong, new Promise((r) => setTimeout(() => r(null), 10000))]);
      report('ping answered', payload !== null && payload.toString() === 'are you there', String(payload));
      ws.close(4002, 'done');
    } catch (e) {
      report('exchange', false, String(e));
      ws.terminate();
    }
  });
  ws.on('close', (code, reason) => {
    report('close handshake completed', code === 4002, `${code} ${reason}`);
    process.exit(results.every(Boolean) ? 0 : 1);
  });
  ws.on('error', (e) => {
    report('connection', false, String(e));
    process.exit(1);
  });
}

const [mode, url] = process.argv.slice(2);
if (mode === 'server') server();
else if (mode === 'client') client(url);
else {
  console.error('usage: node_peer.js server | client URL');
  process.exit(2);
}
