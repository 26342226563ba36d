// Open report pages in headless Chromium (Debian package, driven by playwright-core) with the network
// off and report, per page and viewport width: horizontal scroll, console errors, failed or blocked
// requests, axe-core violations (serious/critical), and optionally a screenshot.
// Usage: node check_pages.mjs <job.json>   job = {chromium, pages: [{name, path}], widths: [1400, 390],
//                                                 screenshots: "<dir>" | null, hover: [{name, selector, tip?, focus?}]}
// Prints one JSON document on stdout.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const axePath = require.resolve("axe-core/axe.min.js");

const job = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const browser = await chromium.launch({
  executablePath: job.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
});
const results = [];
try {
  for (const p of job.pages) {
    for (const width of job.widths) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, offline: true });
      const page = await context.newPage();
      const consoleErrors = [], failed = [], blocked = [];
      page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      page.on("requestfailed", (r) => failed.push(`${r.url()} (${r.failure()?.errorText})`));
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("file:") || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        blocked.push(url);
        return route.abort("internetdisconnected");
      });
      const url = pathToFileURL(path.resolve(p.path)).href;
      await page.goto(url, { waitUntil: "load" });
      await page.waitForTimeout(300);
      const scroll = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        wide: Array.from(document.querySelectorAll("body *")).filter((el) => {
          const r = el.getBoundingClientRect();
          return r.right > window.innerWidth + 1 && !el.closest(".table-wrap") && getComputedStyle(el).position !== "fixed";
        }).slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ")[0] : "")),
      }));
      await page.addScriptTag({ path: axePath });
      const axe = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                                          example: v.nodes[0] ? v.nodes[0].target.join(" ") : "" }));
      });
      const hover = [];
      for (const h of (job.hover || []).filter((x) => x.name === p.name)) {
        const el = await page.$(h.selector);
        if (!el) { hover.push({ selector: h.selector, text: null }); continue; }
        await el.scrollIntoViewIfNeeded();
        await el.hover();
        await page.waitForTimeout(200);
        // h.tip: the tooltip's selector (default: the map's); h.focus: also read it on keyboard focus
        const tipSel = h.tip || ".hoverlayer, [role=tooltip]:not([hidden]), .map-tip:not([hidden])";
        const readTip = () => page.evaluate((sel) => {
          const t = document.querySelector(sel); return t ? t.textContent : null; }, tipSel);
        const entry = { selector: h.selector, text: await readTip() };
        if (h.focus) {
          await page.mouse.move(0, 0);
          await page.waitForTimeout(100);
          entry.afterLeave = await readTip();
          await el.focus();
          await page.waitForTimeout(100);
          entry.focusText = await readTip();
        }
        hover.push(entry);
      }
      let shot = null;
      if (job.screenshots) {
        shot = path.join(job.screenshots, `${p.name}_${width}.png`);
        await page.screenshot({ path: shot, fullPage: width < 800 ? false : false });
      }
      results.push({ name: p.name, width, url, scroll, consoleErrors, failed, blocked, axe, hover, shot });
      await context.close();
    }
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results, null, 1) + "\n");
