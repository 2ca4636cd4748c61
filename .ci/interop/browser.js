// Opens a page in headless Chromium (Debian's, through playwright-core) and prints every
// "wsx-page: ..." console line of it on stdout, until the page reports its WebSocket closed
// or 60 s pass. Run by peers.py, which reads those lines.
//
//   node browser.js URL
'use strict';
const { chromium } = require('playwright-core');

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    env: process.env,
  });
  const page = await browser.newPage();
  let finished;
  const done = new Promise((resolve) => (finished = resolve));
  page.on('console', (msg) => {
    const text = msg.text();
    if (text.startsWith('wsx-page: ')) {
      console.log(text.slice('wsx-page: '.length));
      if (text.startsWith('wsx-page: close')) finished();
    } else if (msg.type() === 'error') {
      console.log('console error: ' + text);
    }
  });
  await page.goto(process.argv[2]);
  await Promise.race([done, new Promise((r) => setTimeout(r, 60000))]);
  await browser.close();
})().catch((e) => {
  console.log('failed: ' + e);
  process.exit(1);
});
