// The echo server of `bench/run load`: uWebSockets.js (installed by the bench into
// bench/node_modules), compression off, on 127.0.0.1 port 0; the readiness line on stderr.
const uWS = require('@trufflesuite/uws-js-unofficial');
uWS.App().ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  message: (ws, message, isBinary) => { ws.send(message, isBinary); },
}).listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  console.error(`listening on ws://127.0.0.1:${uWS.us_socket_local_port(token)}`);
});
