// The compressing echo server of `bench/run memory compress`: Node's `ws` (installed by the
// bench into bench/node_modules) with permessage-deflate on for every message, on 127.0.0.1
// port 0; the readiness line on stderr.
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0 },
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  console.error(`listening on ws://127.0.0.1:${wss.address().port}`);
});
