// Opens a page in headless Chromium (Debian's, through playwright-core). Run by peers.py,
// which reads what it prints.
//
//   node browser.js URL
//       prints every "wsx-page: ..." console line of the page, until it reports its
//       WebSocket closed or 60 s pass
//   node browser.js URL --record-har FILE
//       the same, with Playwright recording the page's traffic, its WebSocket included, as a
//       HAR file (written when the browser context closes)
//   node browser.js URL --type TEXT --expect TEXT
//       a chat page (#msg, #log): once its socket is open, types TEXT and Enter, then waits
//       until the log shows a line equal to the second TEXT and prints "got TEXT"
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
  const args = process.argv.slice(3);
  const har = args[0] === '--record-har' ? args.splice(0, 2)[1] : null;
  const context = await browser.newContext(
    har ? { recordHar: { path: har, content: 'embed' } } : {},
  );
  const page = await context.newPage();
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
  const [flag, typed, flag2, expected] = args;
  if (flag === '--type' && flag2 === '--expect') {
    await page.waitForFunction(() => typeof ws !== 'undefined' && ws.readyState === 1, null, {
      timeout: 30000,
    });
    await page.fill('#msg', typed);
    await page.press('#msg', 'Enter');
    await page.waitForFunction(
      (want) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === want),
      expected,
      { timeout: 30000 },
    );
    console.log(`got ${expected}`);
  } else {
    await Promise.race([done, new Promise((r) => setTimeout(r, 60000))]);
  }
  await context.close();
  await browser.close();
  // The 60 s timer above would keep node running.
  process.exit(0);
})().catch((e) => {
  console.log('failed: ' + e);
  process.exit(1);
});
