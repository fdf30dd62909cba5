// Opens a catalogue page from disk in headless Chromium with the network off, and prints
// (one JSON object) what a reader would see: the diagram's nodes and edges and how many
// were drawn with a size, the index entries before and after typing FILTER into the filter
// box, where the first `$ref` link of the field tables lands, every request that was not
// for a file, and every script error. Saves a screenshot of the page's first screen.
//
//   node browser.mjs PAGE.html SCREENSHOT.png FILTER
//
// Chromium: $OWLPOST_CHROMIUM, else Debian's /usr/bin/chromium.
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [file, screenshot, filter] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.OWLPOST_CHROMIUM || "/usr/bin/chromium",
  // As root in a container, without the services a desktop has, and with nothing to fetch.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ offline: true, viewport: { width: 1440, height: 900 } });
  const requests = [];
  context.on("request", (request) => {
    if (!request.url().startsWith("file:")) requests.push(request.url());
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: "load" });

  const nodes = await page.$$eval("svg.diagram g.node", (gs) => gs.map((g) => g.dataset.node));
  const edges = await page.$$eval("svg.diagram path.edge", (ps) => ps.map((p) => [p.dataset.from, p.dataset.to]));
  // Drawn: laid out with a size (an edge may be a horizontal line: its height is 0).
  const drawn = await page.$$eval("svg.diagram g.node rect, svg.diagram path.edge", (shapes) =>
    shapes.filter((shape) => shape.getBoundingClientRect().width > 0).length);
  await page.screenshot({ path: screenshot });

  const visible = () => page.$$eval("nav#index li", (lis) =>
    lis.filter((li) => li.offsetParent !== null).map((li) => li.textContent.trim()));
  const before = await visible();
  await page.fill("#filter", filter);
  const after = await visible();
  const noMatchShown = await page.isVisible("#no-match");
  await page.fill("#filter", "");

  const link = page.locator('main td a[href^="#definition-"]').first();
  const href = await link.getAttribute("href");
  await link.click();
  const landed = await page.evaluate(() => {
    const target = document.querySelector(":target");
    const box = target && target.getBoundingClientRect();
    return {
      hash: location.hash,
      target: target && target.id,
      text: target && target.textContent.trim(),
      in_view: Boolean(box) && box.top >= 0 && box.top < window.innerHeight,
    };
  });

  console.log(JSON.stringify({
    nodes, edges, drawn,
    entries: { before, after, no_match_shown: noMatchShown },
    ref: { href, ...landed },
    requests, errors,
  }));
} finally {
  await browser.close();
}
